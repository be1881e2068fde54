"""Kinds of harm, to tell whether the model's signal and a curated warning speak of the same
thing. Pure: a reviewed table, no learning.

A curated card shows the model's view only when it agrees in kind with the curated harm
(warfarin + ibuprofen: the curated harm is bleeding and the model's top effect a
gastrointestinal bleed), never when it names something else (simvastatin + clarithromycin:
the curated harm is rhabdomyolysis, the model's top effects hypoxia and pneumonia, which are
why both drugs are given to sick patients, not the interaction). A curated harm is classified
by its English consequence text; a predicted side effect by the seriousness rule that tiered it
(`model/seriousness.py`, e.g. ``lt.gi-bleed``), which already groups the 963 TWOSIDES names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HarmKind:
    name: str  # as a card says it
    curated: re.Pattern[str]  # matches a curated consequence that speaks of this harm
    effect_rules: frozenset[str]  # the seriousness rules whose side effects are this harm


def _kind(name: str, pattern: str, *rules: str) -> HarmKind:
    return HarmKind(name, re.compile(pattern, re.IGNORECASE), frozenset(rules))


HARM_KINDS: tuple[HarmKind, ...] = (
    _kind(
        "bleeding",
        r"bleed|ha?emorrh(?!oid)|ha?ematoma",
        "lt.cns-bleed",
        "lt.gi-bleed",
        "lt.major-bleed",
        "serious.bleeding",
        "serious.purpura",
        "serious.coagulation",
    ),
    _kind(
        "heart rhythm",
        r"\bQTc?\b|torsade|arrhythm|ventricular (?:tachy|fibril)|bradycard|heart block|"
        r"\bAV block|atrioventricular|conduction|cardiac arrest|sudden (?:cardiac )?death",
        "lt.ventricular-arrhythmia",
        "lt.cardiac-arrest",
        "lt.complete-heart-block",
        "serious.arrhythmia",
        "serious.av-block-2",
        "serious.syncope",
    ),
    _kind(
        "muscle damage",
        r"myopath|rhabdomyol|myositis|muscle (?:damage|breakdown|pain|toxicity)",
        "lt.rhabdomyolysis",
        "serious.muscle-tendon-bone",
    ),
    _kind(
        "kidney injury",
        r"kidney|renal|nephrotox",
        "lt.acute-kidney-failure",
        "lt.hepatorenal",
        "serious.renal",
    ),
    _kind(
        "electrolytes",
        r"potassium|kal(?:a)?emia|hyponatr|sodium|magnes|electrolyte|calc(?:a)?emia",
        "lt.hyperkalemia",
        "serious.electrolyte",
    ),
    _kind("liver injury", r"hepat|liver", "lt.liver-failure", "serious.liver"),
    _kind(
        "sedation and breathing",
        r"sedation|sedative|CNS depress|respiratory depress|drowsiness|somnolence|\bcoma\b|"
        r"breathing|alertness|vigilance",
        "lt.respiratory",
        "lt.coma",
        "serious.neuro",
    ),
    _kind("seizures", r"seizure|convuls|epilep", "serious.seizure", "lt.status-epilepticus"),
    _kind(
        "low blood pressure",
        r"hypotension|blood pressure (?:fall|drop)|orthostatic|syncope|fainting",
        "serious.hypotension",
        "serious.syncope",
    ),
    _kind(
        "high blood pressure",
        r"hypertensive (?:crisis|reaction|emergency)|blood pressure (?:rise|surge)|"
        r"paroxysmal hypertension",
        "lt.hypertensive-emergency",
    ),
    _kind(
        "blood sugar",
        r"hypoglyc|hyperglyc|blood sugar|glyc(?:a)?emia",
        "lt.hypoglycemia",
        "serious.hyperglycemia",
    ),
    _kind(
        "blood counts",
        r"marrow|neutropeni|agranulocyt|leu[ck]openi|pancytopeni|thrombocytopeni|"
        r"ha?ematolog|myelotox|blood count|an(?:a)?emia",
        "lt.marrow-failure",
        "lt.thrombocytopenia",
        "serious.leukopenia",
        "serious.anemia",
    ),
    _kind(
        "heart failure",
        r"heart failure|cardiac failure|negative inotrop",
        "lt.heart-failure",
        "serious.heart-failure-symptom",
    ),
    _kind(
        "clots and stroke",
        r"thrombo(?:sis|embol|tic)|stroke|embolism",
        "lt.embolism",
        "lt.pulmonary-embolism",
        "lt.stroke",
        "serious.thrombosis",
        "serious.tia",
    ),
)


def curated_harm_kinds(texts: Iterable[str]) -> frozenset[str]:
    """The kinds of harm the curated texts (consequences, short harms) speak of."""
    return _harm_kinds_in("\n".join(texts))


@functools.lru_cache(maxsize=4096)
def _harm_kinds_in(joined: str) -> frozenset[str]:
    # Searched once per text: the same statements come back call after call.
    return frozenset(kind.name for kind in HARM_KINDS if kind.curated.search(joined))


def effect_harm_kinds(seriousness_rule: str) -> frozenset[str]:
    """The kinds of a predicted side effect, from the rule that tiered it (fainting is a
    heart-rhythm harm and a blood-pressure harm); empty for none."""
    return frozenset(kind.name for kind in HARM_KINDS if seriousness_rule in kind.effect_rules)
