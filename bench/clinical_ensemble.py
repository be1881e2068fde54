"""Does averaging the clinical network with the similarity vote (or the tree) rank better than
either alone? Trains each on the same split and scores every task with rank-averaged outputs.

    .venv/bin/python bench/clinical_ensemble.py --splits one-new two-new --seed 0 [--no-tree]

Rank averaging needs no calibration between the two scores; it answers whether the two carry
different information. Prints one AUROC line per (split, combination).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model.clinical import baselines
from model.clinical.config import ClinicalConfig
from model.clinical.drugs import DrugTable, build_drug_table
from model.clinical.evaluate import DRUG_INDEX, INTERACTIONS, ROOT
from model.clinical.labels import read_labels
from model.clinical.splits import make_split
from model.clinical.tasks import TASKS, score_tasks, task_sets
from model.clinical.train import DrugInputs, network_scorers, train


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values)) / max(len(values) - 1, 1)
    return ranks


def blended(first: dict, second: dict, weight: float) -> dict:
    def scorer(name: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda pairs: (
            weight * _ranks(first[name](pairs)) + (1 - weight) * _ranks(second[name](pairs))
        )

    return {name: scorer(name) for name in first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", nargs="+", default=["one-new", "two-new"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tree", action="store_true")
    parser.add_argument("--drug-table", type=Path, default=ROOT / "runs" / "clinical-drugs.npz")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    config = ClinicalConfig()
    if args.drug_table.exists():
        table = DrugTable.load(args.drug_table)
    else:
        table = build_drug_table(DRUG_INDEX, args.shared, config.features)
        table.save(args.drug_table)
    labels = read_labels(INTERACTIONS, table.index(), config.labels)
    inputs = DrugInputs.from_table(table)
    for split_name in args.splits:
        split = make_split(split_name, labels.pairs, len(table.rxcuis), config, args.seed)
        tests = task_sets(labels, split.pairs, split.test, args.seed)
        trained, votes, blend = train(table, inputs, labels, split, config)
        models = {
            "network": network_scorers(trained, inputs, votes),
            "network + vote blend (served)": network_scorers(trained, inputs, votes, blend),
            "similarity vote": baselines.similarity_vote(table, labels, split),
        }
        if not args.no_tree:
            models["tree"] = baselines.tree(table, labels, split, split.seed)
        for weight in (0.5, 0.7):
            models[f"network {weight} + similarity"] = blended(
                models["network"], models["similarity vote"], weight
            )
            if "tree" in models:
                models[f"network {weight} + tree"] = blended(
                    models["network"], models["tree"], weight
                )
        for name, scorers in models.items():
            scores = score_tasks(tests, scorers)
            cells = " ".join(f"{scores[t]:.3f}" for t in TASKS)
            print(f"{split_name}/{args.seed} {name}: {cells}", flush=True)


if __name__ == "__main__":
    main()
