"""A source's drug class, widened to the ATC group it corresponds to (`pharmacology/*.atc.tsv`).

A class list follows its source's market and date: the ANSM's "TRIPTANS" lists the triptans
sold in France, the ONC panel's "SSRIs" those of 2012. Where a class is exactly an ATC group,
a drug of that group joins it, but only a drug the source does not know at all: a drug the
source names elsewhere and left out of the class was left out on purpose (the ONC panel's
"HMG Co-A reductase inhibitors" are simvastatin and lovastatin, not atorvastatin).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cds_service.core.codes import normalize_name
from cds_service.index_build.drug_facts import DrugFacts
from cds_service.index_build.pharmacology import TABLES_DIR

COLUMNS = ("source", "class", "atc", "atc_exclude", "reference", "note")


@dataclass(frozen=True, slots=True)
class ClassAtc:
    atc: tuple[str, ...]
    exclude: tuple[str, ...]


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split(",") if part.strip())


def atc_map_files(folder: Path = TABLES_DIR) -> list[Path]:
    return sorted(folder.glob("*.atc.tsv"))


def read_class_atc(folder: Path = TABLES_DIR) -> dict[tuple[str, str], ClassAtc]:
    """(source id, normalised class name) → its ATC correspondence."""
    found: dict[tuple[str, str], ClassAtc] = {}
    for path in atc_map_files(folder):
        with path.open(encoding="utf-8", newline="") as handle:
            lines = [line for line in handle if line.strip() and not line.startswith("#")]
        for number, row in enumerate(csv.DictReader(lines, delimiter="\t"), 2):
            if tuple(row) != COLUMNS:
                raise ValueError(f"{path.name}: header must be {'|'.join(COLUMNS)}")
            if not row["atc"]:
                continue
            key = (row["source"].strip(), normalize_name(row["class"]))
            mapping = ClassAtc(_split(row["atc"]), _split(row["atc_exclude"]))
            if found.get(key, mapping) != mapping:  # names equal once normalised must agree
                raise ValueError(f"{path.name}:{number}: class {row['class']!r} mapped twice")
            found[key] = mapping
    return found


class ClassWidener:
    """Members a source's class gains by ATC: (ingredient → "ATC <code>")."""

    def __init__(
        self,
        source: str,
        facts: DrugFacts,
        known_to_source: Iterable[str] = (),
        class_atc: dict[tuple[str, str], ClassAtc] | None = None,
    ) -> None:
        self.source = source
        self.facts = facts
        self.known = frozenset(known_to_source)
        self.class_atc = read_class_atc() if class_atc is None else class_atc

    def knowing(self, known_to_source: Iterable[str]) -> ClassWidener:
        """The same widener for a source whose vocabulary is only read later (ANSM's)."""
        return ClassWidener(self.source, self.facts, known_to_source, self.class_atc)

    def extra_members(self, class_name: str) -> dict[str, str]:
        mapping = self.class_atc.get((self.source, normalize_name(class_name)))
        if mapping is None:
            return {}
        return {
            rxcui: f"ATC {code}, a drug the {self.source} list does not know"
            for rxcui, code in self.facts.atc_members(mapping.atc, mapping.exclude).items()
            if rxcui not in self.known
        }
