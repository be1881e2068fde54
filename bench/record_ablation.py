"""What the report record adds: a random-split run's test cells scored with and without it.

    .venv/bin/python bench/record_ablation.py [--run runs/random]

The same trained weights score the test cells twice: as trained (pairs seen in training read
their report record) and with every record switched off, which is how a pair the model has never
seen is scored. Prints macro AUROC and AUPR of both (`model.evaluate.summarise`). About two
minutes on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

from random_run import load_random_run

from model.evaluate import score_pairs, summarise
from model.splits import TEST, cell_evaluation_set


def main() -> int:
    predictor, prepared = load_random_run(__doc__.split("\n")[0], Path("runs/random"))
    config = predictor.artifact.config
    test = cell_evaluation_set(prepared.benchmark, prepared.split, TEST)
    names = [s.name for s in prepared.benchmark.side_effects]
    result = {"model_version": predictor.version}
    for label, with_records in (("with_record", True), ("record_off", False)):
        logits = score_pairs(predictor.model, prepared, test.pairs, with_records=with_records)
        macro = summarise(test, logits, names, config.min_test_positives)["macro"]
        result[label] = {"auroc": macro["auroc"], "aupr": macro["aupr"]}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
