"""Reference point for the DDI model: a count baseline with no learning.

    .venv/bin/python bench/count_baseline.py [--split pairs] [--partition validation]
    .venv/bin/python bench/count_baseline.py --split random --partition test \
        --out model/side_effect_baselines.json                       # for `ddi-cds evaluate --all`
    .venv/bin/python bench/count_baseline.py --split unseen --partition test \
        --out model/side_effect_baselines.json                       # one drug unseen
    .venv/bin/python bench/count_baseline.py --split unseen --partition test_both \
        --out model/side_effect_baselines.json                       # both drugs unseen

Scores a pair (a, b) for side effect k as log r(a, k) + log r(b, k), where r(d, k) is the
smoothed fraction of drug d's training pairs reported with k. Evaluated with the model's own
splits, negatives and metrics (`model.evaluate.summarise`), so the figures compare directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from model.config import TrainConfig
from model.data import load_benchmark
from model.evaluate import EVALUATION_SEED_OFFSET, summarise
from model.splits import PARTITION_NAMES, TRAIN, evaluation_set, make_split


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["random", "pairs", "unseen"], default="pairs")
    parser.add_argument(
        "--partition", choices=["validation", "test", "test_both"], default="validation"
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, help="a JSON file to add the figures to")
    args = parser.parse_args()
    config = dataclasses.replace(TrainConfig(), split=args.split)
    benchmark = load_benchmark(args.data)
    split = make_split(benchmark, config)
    train = split.pairs(TRAIN)
    rows = split.report_row[train[:, 0], train[:, 1]]
    labels = np.zeros((len(train), len(benchmark.side_effects)))
    labels[rows >= 0] = benchmark.labels[rows[rows >= 0]]
    counts = np.zeros((len(benchmark.drugs), labels.shape[1]))
    degree = np.zeros(len(benchmark.drugs))
    for side in (0, 1):
        np.add.at(counts, train[:, side], labels)
        np.add.at(degree, train[:, side], 1)
    log_rate = np.log((counts + 0.5) / (degree[:, None] + 1))
    partition = {v: k for k, v in PARTITION_NAMES.items()}[args.partition]
    evaluation = evaluation_set(benchmark, split, partition, config.seed + EVALUATION_SEED_OFFSET)
    scores = log_rate[evaluation.pairs[:, 0]] + log_rate[evaluation.pairs[:, 1]]
    names = [s.name for s in benchmark.side_effects]
    macro = summarise(evaluation, scores, names, config.min_test_positives)["macro"]
    print(json.dumps({"split": args.split, "partition": args.partition, "macro": macro}, indent=1))
    if args.out:
        kept = json.loads(args.out.read_text()) if args.out.exists() else {}
        kept[f"{args.split}/{args.partition}"] = {"count baseline": macro}
        args.out.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
