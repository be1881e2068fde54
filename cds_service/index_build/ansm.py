"""One ANSM record per ingredient pair from the 2020 (French) and 2016 (English) editions.

Class entries expand to every pair of member ingredients, so one pair is often reached by
several entries ("ANTICOAGULANTS ORAUX + AINS" and its mirror "AINS + ANTICOAGULANTS ORAUX",
or a substance entry and a class entry): per edition the most severe entry wins, then the
most specific one. Across editions the 2020 level is current and wins; the 2016 edition lends
its English consequence text (preferring a 2016 entry of the same tier), and pairs only the
2016 edition knows keep their 2016 record.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from cds_service.core.evidence import derived_management
from cds_service.core.severity import Severity
from cds_service.index_build import ansm_2016, ansm_2020, ansm_english
from cds_service.index_build.ansm_entry import ANSM_2016, ANSM_2020, AnsmEntry, AnsmSide
from cds_service.index_build.groups import Group
from cds_service.index_build.ingredient_resolver import IngredientResolver, UnmappedLog
from cds_service.index_build.source_classes import ClassWidener
from cds_service.index_build.statements import Pair, PairRow, Statement

# Two class sides are the same class across editions when they share this share of members.
CLASS_OVERLAP = 0.5


@dataclass
class AnsmResult:
    records: dict[Pair, Statement]
    entries: Counter[str]  # entries read, per edition
    entries_unmapped: Counter[str]  # entries with a side that maps to no ingredient
    ungraded_only_pairs: int  # 2016 pairs whose only entries lost their level: dropped
    unmapped: UnmappedLog
    low_is_first: dict[Pair, bool]  # the pair's lower key is on the lead entry's first side
    groups: dict[str, Group]  # the 2020 classes widened by ATC, with how each member joined

    def rows(self) -> list[PairRow]:
        return [
            PairRow(low, high, statement, self.low_is_first[(low, high)])
            for (low, high), statement in sorted(self.records.items())
        ]


def compile_ansm(
    data_dir: Path, resolver: IngredientResolver, widener: ClassWidener | None = None
) -> AnsmResult:
    """`widener`: lets a drug the French lists do not know join a class by its ATC code."""
    log = UnmappedLog()
    directory_groups: dict[str, Group] = {}
    entries_2020 = ansm_2020.read_entries(resolver, log, widener, directory_groups)
    entries_2016 = ansm_2016.read_entries(data_dir, resolver, log)
    best_2020 = _best_per_pair(entries_2020)
    by_pair_2016 = _ranked_per_pair(entries_2016)

    records: dict[Pair, Statement] = {}
    low_is_first: dict[Pair, bool] = {}
    ungraded_only = 0
    for pair in sorted(set(best_2020) | set(by_pair_2016)):
        current = best_2020.get(pair)
        older = by_pair_2016.get(pair, [])
        if current is None and (not older or older[0].severity is None):
            ungraded_only += 1
            continue
        lead = current or older[0]
        low_is_first[pair] = pair[0] in lead.first.ingredients and (
            pair[1] in lead.second.ingredients
        )
        records[pair] = _merge(current, older, directory_groups)

    # An entry split into its levels (ansm_levels) is still one entry of the source.
    everything = {(e.edition, e.position): e for e in entries_2020 + entries_2016}.values()
    return AnsmResult(
        records=records,
        entries=Counter(e.edition for e in everything),
        entries_unmapped=Counter(
            e.edition for e in everything if not (e.first.ingredients and e.second.ingredients)
        ),
        ungraded_only_pairs=ungraded_only,
        unmapped=log,
        low_is_first=low_is_first,
        groups=directory_groups,
    )


def _ranked_per_pair(entries: list[AnsmEntry]) -> dict[Pair, list[AnsmEntry]]:
    by_pair: dict[Pair, list[AnsmEntry]] = defaultdict(list)
    for entry in sorted(entries, key=AnsmEntry.preference):
        for pair in set(entry.ingredient_pairs()):
            by_pair[pair].append(entry)
    return by_pair


def _best_per_pair(entries: list[AnsmEntry]) -> dict[Pair, AnsmEntry]:
    best: dict[Pair, AnsmEntry] = {}
    for entry in sorted(entries, key=AnsmEntry.preference):
        for pair in entry.ingredient_pairs():
            best.setdefault(pair, entry)
    return best


def _sides_match(a: AnsmSide, b: AnsmSide, loose: bool) -> bool:
    """Same substance(s), or two classes sharing most of their members across editions.

    Loosely, a substance also matches a class that contains it (2016 "CLARITHROMYCIN" for
    2020 "INHIBITEURS PUISSANTS DU CYP3A4").
    """
    mine, theirs = set(a.ingredients), set(b.ingredients)
    if not (mine and theirs):
        return False
    if mine == theirs:
        return True
    if a.is_class and b.is_class:
        return len(mine & theirs) >= CLASS_OVERLAP * len(mine | theirs)
    return loose and (mine <= theirs if b.is_class else theirs <= mine if a.is_class else False)


def same_interaction(current: AnsmEntry, older: AnsmEntry, loose: bool = False) -> bool:
    """Whether a 2016 entry is the translation of a 2020 one, judged by what its sides cover.

    A pair can be reached by unrelated entries (fluoxetine + pimozide: the 2020 torsades
    contraindication, and a 2016 class entry on the epileptic threshold): only the matching
    entry may lend its English text.
    """
    a1, a2, b1, b2 = current.first, current.second, older.first, older.second
    return (_sides_match(a1, b1, loose) and _sides_match(a2, b2, loose)) or (
        _sides_match(a1, b2, loose) and _sides_match(a2, b1, loose)
    )


def _english_for(current: AnsmEntry | None, older: list[AnsmEntry]) -> AnsmEntry | None:
    """Best first: the same entry at the same tier, the same entry re-graded since 2016, a
    more or less specific entry at the same tier. Otherwise no English text."""
    if current is None:
        return older[0] if older else None
    same_tier = [entry for entry in older if entry.severity == current.severity]
    candidates = (
        *(e for e in same_tier if same_interaction(current, e)),
        *(e for e in older if same_interaction(current, e)),
        *(e for e in same_tier if same_interaction(current, e, loose=True)),
    )
    return next(iter(candidates), None)


def _merge(
    current: AnsmEntry | None, older: list[AnsmEntry], groups: dict[str, Group]
) -> Statement:
    """The 2020 level and French text, with the English text of the matching 2016 entry."""
    lead = current or older[0]
    group_ids = [
        ansm_2020.group_id(side.label) if current is not None else ""
        for side in (lead.first, lead.second)
    ]
    severity = lead.severity
    assert severity is not None  # ungraded-only pairs were dropped by the caller
    english = _english_for(current, older)
    if current is not None and current.text_en:  # the project's translation of the 2020 text
        consequence, mechanism = current.text_en, ""
    else:
        consequence, mechanism = (
            ansm_2016.split_consequence(english.text_en) if english else ("", "")
        )
    management = (current.management_en if current is not None else "") or (
        english.management_en if english else ""
    )
    derived = derived_management(severity)
    editions = [edition for edition, e in ((ANSM_2020, current), (ANSM_2016, english)) if e]
    return Statement(
        source=lead.edition,
        editions=",".join(editions),
        severity=severity.value,
        source_severity=(
            ansm_english.level(lead.source_severity) if current else lead.source_severity
        ),
        consequence=consequence,
        mechanism=mechanism,
        management=management or derived,
        management_derived=0 if management else 1,
        original_text=lead.original_text,
        via=_english_via(lead) if current is not None else lead.via,
        harm=lead.harm_short,
        action=lead.action_short if management else "",
        group_a=group_ids[0] if group_ids[0] in groups else "",
        group_b=group_ids[1] if group_ids[1] in groups else "",
    )


def _english_via(entry: AnsmEntry) -> str:
    """The classes an entry of the French edition names, in English."""
    sides = (entry.first, entry.second)
    return " + ".join(ansm_english.class_label(side.label) for side in sides if side.is_class)


def input_files(data_dir: Path) -> list[Path]:
    return ansm_2016.input_files(data_dir) + ansm_2020.input_files()


def tier_counts(records: dict[Pair, Statement]) -> dict[str, int]:
    counts = Counter(statement.severity for statement in records.values())
    return {tier.value: counts.get(tier.value, 0) for tier in Severity}
