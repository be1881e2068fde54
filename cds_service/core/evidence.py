"""What is known about one ingredient pair: the evidence records every layer produces. Pure.

A record is one source's statement about a pair: a curated source (ANSM, DDInter, the ONC
lists, CredibleMeds, HL7 PDDI), one of the project's reviewed rules (US labelling, or a
generalisation from pharmacology over drug groups), or a DrugBank interaction type. Records of
different kinds are never merged: each keeps its source, its own grade and its own words, and
`cds_service.core.grading` decides the pair's grade from all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cds_service.core.severity import Severity


class EvidenceKind(StrEnum):
    """Where a record's grade comes from; the first three are credible grades."""

    CURATED = "curated"  # a curated source grades the pair (or a class holding it)
    LABEL = "label"  # a project rule written from US prescribing information
    CURATED_RULE = "curated-rule"  # a project rule restating a curated list (CredibleMeds, ONC)
    PHARMACOLOGY = "pharmacology"  # a project rule generalising from mechanism
    TYPE = "type"  # an ungraded source's interaction type (DrugBank)

    @property
    def credible(self) -> bool:
        """A credible grade is never outranked by a generalisation (pharmacology, type)."""
        return self in (EvidenceKind.CURATED, EvidenceKind.LABEL, EvidenceKind.CURATED_RULE)


class Flag(StrEnum):
    """What an expert panel says about interrupting the prescriber for the pair."""

    NONE = ""
    ALWAYS_INTERRUPTIVE = "always-interruptive"  # ONC high-priority list (2012)
    NON_INTERRUPTIVE = "non-interruptive"  # ONC non-interruptive list (2013)
    CO_FORMULATED = "co-formulated"  # sold together as one US product: an intended combination


# What a prescriber should do, by grade, for sources that give no English management advice.
DERIVED_MANAGEMENT: dict[Severity, str] = {
    Severity.CONTRAINDICATED: (
        "Do not co-prescribe: the combination is contraindicated. Choose an alternative to one "
        "of the two drugs."
    ),
    Severity.MAJOR: (
        "Avoid the combination. If it cannot be avoided, weigh benefit against risk and monitor "
        "the patient closely."
    ),
    Severity.MODERATE: (
        "The combination may be used with precautions: adapt the dose and monitor the patient "
        "(clinically and, where relevant, biologically) while the drugs are taken together."
    ),
    Severity.MINOR: (
        "Take the interaction into account when prescribing; the source requires no specific "
        "action."
    ),
}
DERIVED_MANAGEMENT_NOTE = "(Derived from the grade: the source gives no English advice.)"
# The same, short, for a card's summary when the record gives no action of its own
DERIVED_ACTION: dict[Severity, str] = {
    Severity.CONTRAINDICATED: "do not combine; choose an alternative",
    Severity.MAJOR: "avoid; if needed, monitor closely",
    Severity.MODERATE: "adjust the dose and monitor",
    Severity.MINOR: "take into account",
}


def derived_management(severity: Severity) -> str:
    return f"{DERIVED_MANAGEMENT[severity]} {DERIVED_MANAGEMENT_NOTE}"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: str
    label: str
    citation: str
    url: str
    licence: str


FRENCH_SOURCES = frozenset({"ANSM-2020"})  # whose original text is in French


@dataclass(frozen=True, slots=True)
class KnownInteraction:
    """One source's statement about an ingredient of A and an ingredient of B."""

    rxcui_a: str  # the ingredient from the first argument of the lookup
    name_a: str
    rxcui_b: str  # the ingredient from the second argument
    name_b: str
    severity: Severity | None  # None: the source does not grade (DDInter "Unknown", DrugBank)
    source_severity: str  # the source's own level wording(s), " / "-joined when several
    consequence: str  # clinical consequence in English, "" when the source has none
    mechanism: str  # English mechanism, "" when the source states none
    management: str  # English management advice (see `management_derived`)
    management_derived: bool  # True when `management` was derived from the grade
    original_text: str  # the source's own text (French for ANSM 2020)
    via: str  # the classes whose expansion produced the pair, "" for a direct entry
    source: str  # short id: ANSM-2020, DDInter-1.0, ONC-HP-2012, DDI-CDS-rules, DrugBank-DDI
    editions: tuple[str, ...]  # every edition supporting the record, e.g. ANSM-2020, ANSM-2016
    source_label: str
    citation: str
    url: str
    licence: str
    kind: EvidenceKind = EvidenceKind.CURATED
    flag: Flag = Flag.NONE
    monitor: tuple[str, ...] = ()  # what to monitor, machine-readable (INR, ECG, potassium, ...)
    rule: str = ""  # the project rule's id, "" for a source's own statement
    references: tuple[str, ...] = ()  # a rule's citations
    joined_a: str = ""  # how A's ingredient joined the class the record speaks of, "" if named
    joined_b: str = ""
    matched_a: str = ""  # the base moiety A matched as ("lithium" for lithium carbonate), or ""
    matched_b: str = ""
    harm: str = ""  # the harm in a few plain words, for a card's summary; "" when none given
    action: str = ""  # the advice as an action in imperative words; "" when none given

    @property
    def credible(self) -> bool:
        return self.kind.credible

    @property
    def original_language(self) -> str:
        """The language of `original_text` (a BCP 47 tag): cards show English only; the French
        original is for the explanation page and the audit of a card."""
        return "fr" if self.source in FRENCH_SOURCES else "en"

    def sort_key(self) -> tuple[int, int, str, str, str, str]:
        rank = self.severity.rank if self.severity is not None else len(Severity)
        return (rank, not self.credible, self.source, self.rxcui_a, self.rxcui_b, self.rule)


def records_to_show(records: Sequence[KnownInteraction]) -> list[KnownInteraction]:
    """The records a reader sees (a card, the command line), in reading order: most severe
    first, then those with their own advice before those whose advice is derived from the
    grade, credible before generalisations, the project's rules before other sources. Beside
    other evidence, a record that grades nothing of its own (DDInter "Unknown") or only minor
    as a vague type (DrugBank's "the metabolism of X can be decreased" beside a CYP1A2 rule,
    its "QTc-prolonging activities" for tizanidine + ciprofloxacin) would only blur the
    warning; the explanation page keeps them all."""
    weighty = [
        r
        for r in records
        if r.severity is not None
        and (r.kind is not EvidenceKind.TYPE or r.severity is not Severity.MINOR)
    ]
    chosen = weighty or list(records)
    return sorted(
        chosen,
        key=lambda r: (
            r.severity.rank if r.severity is not None else len(Severity),
            r.management_derived or not r.management,
            not r.credible,
            not r.rule,  # the project's rules are written for US prescribers, advice first
        ),
    )


def lead_record(records: Sequence[KnownInteraction], severity: Severity | None) -> KnownInteraction:
    """The record a summary speaks from: one carrying the pair's grade, with words, a credible
    one first, one with its own advice first (`records_to_show` order)."""
    ordered = records_to_show(records)
    with_words = [r for r in ordered if r.consequence or r.mechanism]
    for candidates in (
        [r for r in with_words if r.severity is severity and r.credible],
        [r for r in with_words if r.severity is severity],
        [r for r in with_words if r.credible],
        with_words,
    ):
        if candidates:
            return candidates[0]
    return ordered[0]


DDI_PLACEHOLDER = "DRUG"


def render_ddi_template(template: str, first: str, second: str) -> str:
    """Fill the DRUG slots: every slot but the last names the first drug, the last the second.

    Two templates have three slots ("... of the active metabolites of DRUG can be increased
    when DRUG is used in combination with DRUG"): the first two are the same drug.
    """
    parts = template.split(DDI_PLACEHOLDER)
    slots = len(parts) - 1
    names = [first] * (slots - 1) + [second]
    text = parts[0]
    for name, tail in zip(names, parts[1:], strict=True):
        text += name + tail
    return text[:1].upper() + text[1:]


def render_rule_text(template: str, names: tuple[str, str], notes: tuple[str, str]) -> str:
    """A rule's sentence for one pair: {a}, {b}, {a_note}, {b_note} filled; sentence case."""
    text = (
        template.replace("{a_note}", notes[0])
        .replace("{b_note}", notes[1])
        .replace("{a}", names[0])
        .replace("{b}", names[1])
    )
    return text[:1].upper() + text[1:]
