"""CredibleMeds (AZCERT): the drugs with a known risk of torsades de pointes, and the curated
interaction listing of 2017-02-26 (83 pairs with effect, mechanism and English advice). The
listing is UTF-8 whose bullets were lost to U+FFFD replacement characters on an earlier
conversion: they are read as bullets.

The known-risk list becomes the group `qt-known-tdp` that the rule tables pair with itself
(ONC high-priority #21, "QT prolonging agents + QT prolonging agents", used this list). The
listing's advice opens with its grade: "Usually Avoid" → major, "Take Precautions" → moderate.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from cds_service.core.drug_index import DrugIndex
from cds_service.core.evidence import EvidenceKind
from cds_service.core.severity import Severity
from cds_service.index_build.groups import Group, Membership
from cds_service.index_build.ingredient_resolver import IngredientResolver, UnmappedLog
from cds_service.index_build.spreadsheets import xlsx_rows
from cds_service.index_build.statements import PairRow, Statement, rows_between

FOLDER = "knowledge/crediblemeds"
KNOWN_RISK_FILE = "CredibleMeds QTDrugs - Known TdP risk List.xlsx"
LISTING_FILE = "credibleMeds-listing-02262017.txt"
CREDIBLEMEDS = "CredibleMeds"
KNOWN_TDP_GROUP = "qt-known-tdp"
KNOWN_RISK_CATEGORY = "Drugs with known TdP risk"
KNOWN_RISK_BASIS = "CredibleMeds: known risk of torsades de pointes (list as distributed, 2017)"
KNOWN_RISK_NOTE = "QT prolongation and torsades de pointes"

# The listing's advice starts with its own grade wording.
ADVICE_GRADES: tuple[tuple[str, Severity], ...] = (
    ("usually avoid", Severity.MAJOR),
    ("avoid", Severity.MAJOR),
    ("take precautions", Severity.MODERATE),
)
_BULLET = re.compile(r"\s*[\u00b7\u2022\u0095\ufffd]\s*")

SOURCE = {
    "id": CREDIBLEMEDS,
    "label": "CredibleMeds (AZCERT) QT drug lists and interaction listing, 2017",
    "citation": (
        "CredibleMeds / AZCERT, Inc. QTDrugs list (drugs with known risk of torsades de pointes) "
        "and drug-drug interaction listing of 2017-02-26, as distributed in "
        "dbmi-pitt/public-PDDI-analysis @ 8199ee66. Woosley RL et al., www.CredibleMeds.org."
    ),
    "url": "https://www.crediblemeds.org/",
    "licence": "CredibleMeds terms: free for non-commercial use with attribution (list of 2017)",
}


def input_files(data_dir: Path) -> list[Path]:
    return [data_dir / FOLDER / KNOWN_RISK_FILE, data_dir / FOLDER / LISTING_FILE]


def known_tdp_group(
    data_dir: Path, resolver: IngredientResolver, log: UnmappedLog | None = None
) -> Group:
    rows = xlsx_rows(data_dir / FOLDER / KNOWN_RISK_FILE)
    header = [cell.strip() for cell in rows[0]]
    name_at, category_at = header.index("Generic Name"), header.index("TdP Risk Category")
    members: dict[str, Membership] = {}
    for row in rows[1:]:
        cells = row + [""] * (len(header) - len(row))
        if cells[category_at].strip() != KNOWN_RISK_CATEGORY or not cells[name_at].strip():
            continue
        found = resolver.from_name(cells[name_at])
        if not found and log is not None:
            log.add(f"CredibleMeds known TdP risk: {cells[name_at].strip()}")
        for rxcui in found:
            members[rxcui] = Membership(KNOWN_RISK_BASIS, KNOWN_RISK_NOTE)
    return Group(KNOWN_TDP_GROUP, "drug with a known risk of torsades de pointes", members)


def grade_of(advice: str) -> tuple[Severity, str]:
    """The listing's grade and its own wording ("Usually Avoid"; "" when it opens with none)."""
    text = " ".join(_BULLET.sub(" ", advice).strip().strip('"').split())
    for wording, grade in ADVICE_GRADES:
        if text.lower().startswith(wording):
            return grade, text[: len(wording)]
    return Severity.MODERATE, ""


def clean(text: str) -> str:
    """One line; the listing's bullets become sentence breaks."""
    parts = [" ".join(p.split()) for p in _BULLET.split(text.strip().strip('"'))]
    return ". ".join(p.rstrip(".") for p in parts if p) + ("." if any(parts) else "")


def compile_listing(
    data_dir: Path, index: DrugIndex, resolver: IngredientResolver, log: UnmappedLog
) -> list[PairRow]:
    rows: list[PairRow] = []
    path = data_dir / FOLDER / LISTING_FILE
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            row = {(k or "").strip(): (v or "") for k, v in row.items()}
            sides = [
                index.ingredients_for_drugbank(row[f"{role}_drugbank"].strip())
                or list(resolver.from_name(row[role]))
                for role in ("object", "precipitant")
            ]
            if not (sides[0] and sides[1]):
                log.add(f"CredibleMeds listing: {row['object']} + {row['precipitant']}")
                continue
            grade, wording = grade_of(row["Options"])
            advice = clean(row["Options"])
            statement = Statement(
                source=CREDIBLEMEDS,
                editions=CREDIBLEMEDS,
                severity=grade.value,
                source_severity=wording or "no grade wording (read as moderate)",
                consequence=clean(row["Effect"]).rstrip("."),
                mechanism=clean(row["Mechanism"]).rstrip("."),
                management=advice,
                management_derived=0,
                original_text=" | ".join(
                    clean(row[k]) for k in ("Effect", "Mechanism", "Related Drugs", "Options")
                ),
                via="",
                kind=EvidenceKind.CURATED.value,
            )
            rows.extend(rows_between(sides[0], sides[1], statement))
    return rows
