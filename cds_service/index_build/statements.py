"""The compiled form every knowledge builder produces: statements and the pairs they cover.

A statement is a row of the `statement` table: what a card says about a pair, shared by every
pair it covers (an ANSM class entry, a DDInter grade, a project rule). A pair row ties one
ingredient-key pair to one statement and says which of the two is the statement's side a (the
affected drug of a rule, the first side of a source's entry).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cds_service.core.evidence import EvidenceKind, Flag

Pair = tuple[str, str]  # (lower key RXCUI, higher key RXCUI), compared as integers


@dataclass(frozen=True, slots=True, order=True)
class Statement:
    source: str
    editions: str
    severity: str  # a Severity value, "" when the source does not grade
    source_severity: str
    consequence: str
    mechanism: str
    management: str
    management_derived: int
    original_text: str
    via: str
    kind: str = EvidenceKind.CURATED.value
    flag: str = Flag.NONE.value
    monitor: str = ""
    group_a: str = ""
    group_b: str = ""
    rule: str = ""
    refs: str = ""
    harm: str = ""  # the harm in a few plain words, for a card's summary ("" : none given)
    action: str = ""  # the advice as an action in imperative words ("": none given)

    def row(self, number: int) -> tuple[Any, ...]:
        """The `statement` table's column order (cds_service.core.knowledge.SCHEMA)."""
        return (
            number,
            self.source,
            self.editions,
            self.kind,
            self.severity,
            self.source_severity,
            self.flag,
            self.consequence,
            self.mechanism,
            self.management,
            self.management_derived,
            self.monitor,
            self.original_text,
            self.via,
            self.group_a,
            self.group_b,
            self.rule,
            self.refs,
            self.harm,
            self.action,
        )


@dataclass(frozen=True, slots=True, order=True)
class PairRow:
    low: str
    high: str
    statement: Statement
    low_is_a: bool


def oriented(a: str, b: str, statement: Statement) -> PairRow | None:
    """The row for a statement whose side a is `a`; None for a drug with itself."""
    if a == b:
        return None
    return PairRow(a, b, statement, True) if int(a) < int(b) else PairRow(b, a, statement, False)


def rows_between(
    side_a: Iterable[str], side_b: Iterable[str], statement: Statement
) -> Iterator[PairRow]:
    second = tuple(side_b)
    for a in side_a:
        for b in second:
            row = oriented(a, b, statement)
            if row is not None:
                yield row


def pair_of(a: str, b: str) -> Pair:
    return (a, b) if int(a) < int(b) else (b, a)
