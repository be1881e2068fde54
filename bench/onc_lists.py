"""Measure: the ONC lists as a US EHR would send them, through the hook.

    .venv/bin/python -m bench.onc_lists [--data ../shared/data] [--json out.json]

(from the repository root, as a module: it imports bench/products.py)

Every pair of the ONC high-priority expansion (Phansalkar 2012; 1,150 DrugBank pairs) and of
the ONC non-interruptive list (Phansalkar 2013) whose two drugs have a US product: each drug
becomes a real RxNorm product code (a single-ingredient SCD, `bench/products.py`), the first
as a draft order and the second as an active medication in prefetch, in one order-sign call
through the engine in process. Reported: the share of pairs that get an interaction card and
the share whose card interrupts (critical or warning), read off the cards themselves. Goals
(issue 18): high-priority ≥ 98% interruptive; non-interruptive ≤ 5% interruptive. The model is
off here: it never changes an indicator (cds_service.core.cards), and model-only cards are off by
default.

The same product pairs can be put to an earlier build of the service, to measure before and
after: `--save pairs.json` writes them; in a checkout of the earlier commit (with this file
and bench/products.py copied into its bench/, and cds_service/testing/ into its cds_service/),
`python -m bench.onc_lists --from pairs.json` run from that checkout's root measures it (it
needs no other module of the newer service to read the pairs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.products import ProductPicker
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.core.drug_index import DrugIndex
from cds_service.protocol.services import service_by_id
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.web.runtime import runtime

SIGN = service_by_id("ddi-order-sign")


ProductPair = tuple[str, str, str, str]  # (code a, name a, code b, name b)


def measure(pairs: list[ProductPair]) -> dict:
    """Each pair as one order-sign call; a card about an interaction opens "### Known"."""
    engine = runtime().engine
    carded = interrupted = 0
    not_interrupting: list[str] = []
    for code_a, name_a, code_b, name_b in pairs:
        body = order_sign_by_codes([code_a], [code_b])
        cards = engine.evaluate(SIGN, body).response["cards"]
        about = [c for c in cards if c["detail"].startswith("### Known interaction")]
        carded += bool(about)
        if any(c["indicator"] in ("critical", "warning") for c in about):
            interrupted += 1
        else:
            not_interrupting.append(f"{name_a} + {name_b}")
    total = len(pairs)
    return {
        "pairs_with_us_products": total,
        "carded": carded,
        "interruptive": interrupted,
        "carded_share": round(carded / total, 4) if total else None,
        "interruptive_share": round(interrupted / total, 4) if total else None,
        "not_interrupting_examples": not_interrupting[:40],
    }


def product_pairs(
    ingredient_pairs: list[tuple[str, str]], picker: ProductPicker
) -> list[ProductPair]:
    found = []
    for a, b in ingredient_pairs:
        product_a, product_b = picker.product(a), picker.product(b)
        if product_a is not None and product_b is not None:
            found.append((product_a[0], product_a[1], product_b[0], product_b[1]))
    return found


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


def onc_product_pairs(data: Path, index: DrugIndex) -> dict[str, list[ProductPair]]:
    from cds_service.index_build import onc

    picker = ProductPicker(index)
    high = [(a, b) for _, a, _, b in onc._drugbank_pairs(data / onc.HP_FOLDER / onc.HP_PAIRS)]
    low = [(cells[3], cells[8]) for cells in onc._ni_rows(data)]
    return {
        "onc_high_priority": product_pairs(ingredient_pairs(index, high), picker),
        "onc_non_interruptive": product_pairs(ingredient_pairs(index, low), picker),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--save", type=Path, help="write the product pairs measured here")
    parser.add_argument("--from", dest="source", type=Path, help="measure these pairs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(auth_disabled=True, data_dir=Path(tmp), model_enabled=False, redis_url="")
        )
        with app.app_context():
            if args.source:
                lists = json.loads(args.source.read_text())
            else:
                lists = onc_product_pairs(args.data, runtime().index)
            if args.save:
                args.save.write_text(json.dumps(lists) + "\n")
            report: dict[str, object] = {"knowledge": runtime().knowledge.version}
            for name, pairs in lists.items():
                report[name] = measure([tuple(p) for p in pairs])
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
