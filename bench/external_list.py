"""The check against interaction lists the project does not hold (issue 21): the clinical head's
`probability_major`, read from `GET /explain?format=json` alone, ranks a list's severe pairs
above its harmless ones.

    .venv/bin/python bench/external_list.py --pairs LIST.tsv [--severe contraindicated,major]

LIST.tsv: tab-separated with a header holding `rxcui_a`, `rxcui_b` (RxNorm ingredients or
products: a product is read as its ingredients, the highest probability counting) and
`expected` (a grade; rows whose grade is neither severe nor `none` are skipped). Prints the
AUROC, how many pairs the model could not describe (they rank lowest), and the pairs per class.
The project's own reference list (tests/data/reference_pairs.tsv, the default) is mostly pairs
the curated sources hold, so the clinical head was trained on them: its figure here is an
in-sample check of the plumbing, not the external one.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from cds_service.app import create_app
from cds_service.config import Settings
from model.metrics import auroc

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_pairs.tsv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=REFERENCE)
    parser.add_argument("--severe", default="contraindicated,major")
    args = parser.parse_args()
    severe = {g.strip() for g in args.severe.split(",")}
    settings = Settings(
        auth_disabled=True,
        data_dir=Path(tempfile.mkdtemp()),
        redis_url="",
        # a measurement, not a flood: the open endpoints' per-process limit would answer 429
        open_requests_per_s=1e6,
        open_burst=1_000_000,
    )
    app = create_app(settings)
    index = app.extensions["ddi_cds"].index
    client = app.test_client()
    labels, scores, undescribed = [], [], 0
    with args.pairs.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader((r for r in handle if not r.startswith("#")), delimiter="\t")
        for row in rows:
            if row["expected"] not in severe | {"none"}:
                continue
            best = None
            for a, _ in index.ingredient_rxcuis(row["rxcui_a"]):
                for b, _ in index.ingredient_rxcuis(row["rxcui_b"]):
                    answer = client.get(f"/explain?a={a}&b={b}&format=json")
                    predicted = (answer.get_json() or {}).get("predicted_interaction")
                    if answer.status_code not in (200, 404):
                        raise SystemExit(f"/explain answered {answer.status_code} for {a} + {b}")
                    if answer.status_code == 200 and predicted:
                        p = predicted["probability_major"]
                        best = p if best is None else max(best, p)
            undescribed += best is None
            labels.append(row["expected"] in severe)
            scores.append(-1.0 if best is None else best)
    truth = np.array(labels)
    print(
        f"{args.pairs.name}: {truth.sum()} severe, {(~truth).sum()} none, "
        f"{undescribed} not described by the model (ranked lowest)"
    )
    print(f"AUROC of probability_major: {auroc(truth, np.array(scores)):.3f}")


if __name__ == "__main__":
    main()
