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

from cds_service.core.drug_index import DrugIndex
from cds_service.core.evidence import DDI_PLACEHOLDER
from cds_service.core.severity import Severity

FOLDER = "ddi-benchmark/DrugBank-DDI-Ryu"
SPLIT_FILES = ("0/ddi_training1.csv", "0/ddi_validation1.csv", "0/ddi_test1.csv")
TEMPLATES_FILE = "DDI_event.csv"

# DrugBank does not grade. Alone, a type is shown (as moderate, an info card) only when it names
# a specific clinical harm; pharmacokinetic types ("the metabolism of X can be decreased") and
# vague ones ("the risk or severity of adverse effects") grade minor and make no card: the rule
# tables decide which enzyme interactions matter. The QT types list any QT-prolonging pair,
# possible-risk drugs included; the rule over CredibleMeds' known-risk drugs decides those.
# With another source or rule on the pair, the record takes the pair's grade.
MODERATE_TYPES: dict[int, str] = {
    11: "loss of efficacy of a prodrug (active metabolite reduced)",
    19: "hepatotoxicity",
    20: "nephrotoxicity",
    22: "ototoxicity",
    24: "hypersensitivity reaction",
    26: "bleeding",
    27: "heart failure",
    28: "hyperkalaemia",
    45: "anticoagulant effect increased (bleeding)",
    47: "antiplatelet effect increased (bleeding)",
    49: "arrhythmia",
    50: "atrioventricular block",
    54: "CNS depression with hypertension",
    60: "hyperkalaemia",
    62: "hypocalcaemia",
    65: "hyponatraemia",
    67: "hypotension with CNS depression",
    69: "myelosuppression",
    70: "myopathy and rhabdomyolysis",
    76: "respiratory depression",
    78: "serotonin toxicity",
    81: "thrombosis",
    82: "gastrointestinal ulceration",
}


def type_grade(ddi_type: int) -> Severity:
    return Severity.MODERATE if ddi_type in MODERATE_TYPES else Severity.MINOR


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
