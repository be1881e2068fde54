"""Measure: the ONC lists as a US EHR would send them, through the hook.

    .venv/bin/python bench/onc_lists.py [--data ../shared/data] [--json out.json]

Every pair of the ONC high-priority expansion (Phansalkar 2012; 1,150 DrugBank pairs) and of
the ONC non-interruptive list (Phansalkar 2013) whose two drugs have a US product: each drug
becomes a real RxNorm product code (a single-ingredient SCD, `bench/products.py`), the first
as a draft order and the second as an active medication in prefetch, in one order-sign call
through the engine in process. Reported: the share of pairs that get an interaction card and
the share whose card interrupts (critical or warning). Goals (issue 18): high-priority ≥ 98%
interruptive; non-interruptive ≤ 5% interruptive. The model is off here: it never changes an
indicator (cds_service.cards), and model-only cards are off by default.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.products import ProductPicker
from cds_service.config import Settings
from cds_service.drug_index import DrugIndex
from cds_service.index_build import onc
from cds_service.services import service_by_id
from cds_service.web import create_app, runtime

SIGN = service_by_id("ddi-order-sign")


def sign_body(draft: str, current: str) -> dict:
    def order(code: str, rid: str, status: str) -> dict:
        return {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": status,
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code}]
            },
        }

    return {
        "hook": "order-sign",
        "hookInstance": "6a1b6c2e-3d0f-4c55-9a55-0d5f0a0f0001",
        "context": {
            "userId": "Practitioner/1",
            "patientId": "p1",
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                            "entry": [{"resource": order(draft, "d1", "draft")}]},
        },
        "prefetch": {
            "medicationRequests": {"resourceType": "Bundle", "type": "searchset",
                                   "entry": [{"resource": order(current, "c1", "active")}]},
            "medicationStatements": None,
        },
    }  # fmt: skip


def measure(pairs: list[tuple[str, str]], picker: ProductPicker) -> dict:
    """pairs: (ingredient A, ingredient B) RXCUIs."""
    engine = runtime().engine
    carded = interrupted = with_products = 0
    misses: list[str] = []
    for a, b in pairs:
        product_a, product_b = picker.product(a), picker.product(b)
        if product_a is None or product_b is None:
            continue
        with_products += 1
        outcome = engine.evaluate(SIGN, sign_body(product_a[0], product_b[0]))
        found = [p for p in outcome.result.pairs if p.interactions] if outcome.result else []
        if found:
            carded += 1
        if any(p.grade.interrupts for p in found):
            interrupted += 1
        else:
            misses.append(f"{product_a[1]} + {product_b[1]}")
    return {
        "pairs_with_us_products": with_products,
        "carded": carded,
        "interruptive": interrupted,
        "carded_share": round(carded / with_products, 4) if with_products else None,
        "interruptive_share": round(interrupted / with_products, 4) if with_products else None,
        "not_interruptive_examples": misses[:40],
    }


def ingredient_pairs(
    index: DrugIndex, drugbank_pairs: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for db_a, db_b in drugbank_pairs:
        for a in index.ingredients_for_drugbank(db_a):
            for b in index.ingredients_for_drugbank(db_b):
                if a != b:
                    found.add((a, b))
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(auth_disabled=True, data_dir=Path(tmp), model_enabled=False, redis_url="")
        )
        with app.app_context():
            index = runtime().index
            picker = ProductPicker(index)
            high = [
                (db_a, db_b)
                for _, db_a, _, db_b in onc._drugbank_pairs(
                    args.data / onc.HP_FOLDER / onc.HP_PAIRS
                )
            ]
            low = [(cells[3], cells[8]) for cells in onc._ni_rows(args.data)]
            report = {
                "knowledge": runtime().knowledge.version,
                "onc_high_priority": measure(ingredient_pairs(index, high), picker),
                "onc_non_interruptive": measure(ingredient_pairs(index, low), picker),
            }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
