"""DrugBank interaction types from the DeepDDI data set (Ryu et al., PNAS 2018).

191,570 (d1, type, d2) triples over 1,700 DrugBank drugs, split train/valid/test in `0/`, and
86 sentence templates (`DDI_event.csv`) with two "DRUG" slots (three in two templates). The
first slot is d1: the triples read "simvastatin, 9, clarithromycin" for "The serum
concentration of simvastatin can be increased when it is combined with clarithromycin" and
"ibuprofen, 45, warfarin" for "ibuprofen may increase the anticoagulant activities of
warfarin", so d1 fills every slot but the last and d2 the last.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.drug_index import DrugIndex
from cds_service.knowledge import DDI_PLACEHOLDER

FOLDER = "ddi-benchmark/DrugBank-DDI-Ryu"
SPLIT_FILES = ("0/ddi_training1.csv", "0/ddi_validation1.csv", "0/ddi_test1.csv")
TEMPLATES_FILE = "DDI_event.csv"

DdiRow = tuple[int, int, int, int]  # (low RXCUI, high RXCUI, type, low RXCUI is the d1 drug)


@dataclass
class DdiResult:
    templates: dict[int, str]
    rows: set[DdiRow]
    triples: int = 0
    triples_unmapped: int = 0  # a drug without an RxNorm ingredient in the index
    triples_same_ingredient: int = 0  # both drugs collapse to one ingredient (salt forms)
    unmapped_drugs: Counter[str] = field(default_factory=Counter)


def input_files(data_dir: Path) -> list[Path]:
    folder = data_dir / FOLDER
    return [folder / TEMPLATES_FILE, *(folder / name for name in SPLIT_FILES)]


def read_templates(path: Path) -> dict[int, str]:
    templates: dict[int, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for number, text in csv.reader(handle):
            if text.count(DDI_PLACEHOLDER) not in (2, 3):
                raise ValueError(f"DDI template {number} has no two drug slots: {text!r}")
            templates[int(number)] = text.strip()
    return templates


def compile_drugbank_ddi(data_dir: Path, drug_index: DrugIndex) -> DdiResult:
    folder = data_dir / FOLDER
    result = DdiResult(templates=read_templates(folder / TEMPLATES_FILE), rows=set())
    ingredients: dict[str, list[str]] = {}
    for name in SPLIT_FILES:
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                result.triples += 1
                ddi_type = int(row["type"])
                if ddi_type not in result.templates:
                    raise ValueError(f"{name}: interaction type {ddi_type} has no template")
                sides = []
                for drug in (row["d1"], row["d2"]):
                    if drug not in ingredients:
                        ingredients[drug] = drug_index.ingredients_for_drugbank(drug)
                    if not ingredients[drug]:
                        result.unmapped_drugs[drug] += 1
                    sides.append(ingredients[drug])
                if not (sides[0] and sides[1]):
                    result.triples_unmapped += 1
                    continue
                added = _add_pairs(result.rows, sides[0], sides[1], ddi_type)
                if not added:
                    result.triples_same_ingredient += 1
    return result


def _add_pairs(rows: set[DdiRow], firsts: list[str], seconds: list[str], ddi_type: int) -> int:
    added = 0
    for first in map(int, firsts):
        for second in map(int, seconds):
            if first != second:
                low, high = min(first, second), max(first, second)
                rows.add((low, high, ddi_type, int(first == low)))
                added += 1
    return added
