"""DDInter 1.0 (Xiong et al., Nucleic Acids Res 2022): graded pairs by drug name.

One file per ATC first level of a drug (A, B, D, H, L, P, R, V only: pairs of two drugs from the
other levels, nervous system and anti-infectives among them, are absent), columns
`DDInterID_A, Drug_A, DDInterID_B, Drug_B, Level`. Names resolve to RxNorm ingredients
exactly (never by a fuzzy guess); a pair seen in two files is one pair. The grade is DDInter's
own (Major / Moderate / Minor); "Unknown" is kept as an ungraded record. DDInter gives no
mechanism or advice: `cds_service.core.grading` shows a bare DDInter grade below major only beside
another source.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.core.severity import Severity
from cds_service.index_build.ingredient_resolver import IngredientResolver
from cds_service.index_build.statements import PairRow, Statement, rows_between

FOLDER = "knowledge/ddinter-1.0"
DDINTER = "DDInter-1.0"
LEVELS: dict[str, Severity | None] = {
    "Major": Severity.MAJOR,
    "Moderate": Severity.MODERATE,
    "Minor": Severity.MINOR,
    "Unknown": None,
}

SOURCE = {
    "id": DDINTER,
    "label": "DDInter 1.0 (graded drug-drug interactions)",
    "citation": (
        "Xiong G, Yang Z, Yi J, et al. DDInter: an online drug-drug interaction database "
        "towards improving clinical decision-making and patient safety. Nucleic Acids Res "
        "2022;50(D1):D1200-D1207. Download files via hitesh19426/ddinter-main @ 580aecd0."
    ),
    "url": "https://doi.org/10.1093/nar/gkab880",
    "licence": "DDInter terms: free for academic / non-commercial use, cite the paper",
}


@dataclass
class DdinterResult:
    rows: list[PairRow]
    pairs_read: int = 0
    pairs_mapped: int = 0
    per_level: Counter[str] = field(default_factory=Counter)
    names: int = 0
    unmapped_names: Counter[str] = field(default_factory=Counter)


def input_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / FOLDER).glob("ddinter_downloads_code_*.csv"))


def level_statement(level: str) -> Statement:
    grade = LEVELS[level]
    return Statement(
        source=DDINTER,
        editions=DDINTER,
        severity=grade.value if grade else "",
        source_severity=level,
        consequence="",
        mechanism="",
        management="",
        management_derived=0,
        original_text=f"DDInter 1.0 level: {level}",
        via="",
    )


def compile_ddinter(data_dir: Path, resolver: IngredientResolver) -> DdinterResult:
    pairs: set[tuple[str, str, str]] = set()
    for path in input_files(data_dir):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                level = row["Level"].strip()
                if level not in LEVELS:
                    raise ValueError(f"{path.name}: unknown DDInter level {level!r}")
                a, b = sorted((row["Drug_A"].strip(), row["Drug_B"].strip()))
                pairs.add((a, b, level))
    result = DdinterResult(rows=[], pairs_read=len(pairs))
    statements = {level: level_statement(level) for level in LEVELS}
    names = {name for a, b, _ in pairs for name in (a, b)}
    resolved = {name: resolver.from_name(name) for name in sorted(names)}
    result.names = len(names)
    for a, b, level in sorted(pairs):
        for name in (a, b):
            if not resolved[name]:
                result.unmapped_names[name] += 1
        if resolved[a] and resolved[b]:
            result.pairs_mapped += 1
            result.per_level[level] += 1
            result.rows.extend(rows_between(resolved[a], resolved[b], statements[level]))
    return result
