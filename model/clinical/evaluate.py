"""Evaluate the clinical head against its baselines on every split, in one table.

    python -m model.clinical.evaluate [--seeds 5] [--splits one-new two-new] [--small]
        [--no-tree] [--out results.json]

For each split (random, one new drug, two new drugs) and seed, trains the network and fits the
baselines on the same training pairs, and scores the test pairs of every task (AUROC). Each
finished (split, seed, model) is written to `--out` at once; a rerun skips what is there, so an
interrupted run resumes where it stopped. Prints mean ± sd over seeds.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.clinical import baselines
from model.clinical.config import SPLITS, ClinicalConfig, ClinicalSplit
from model.clinical.drugs import DrugTable, build_drug_table
from model.clinical.labels import LabelledPairs, read_labels
from model.clinical.splits import PairSplit, make_split
from model.clinical.tasks import TASKS, Scorer, score_tasks, task_sets
from model.clinical.train import DrugInputs, network_scorers, train
from model.metrics import expected_calibration_error

ROOT = Path(__file__).resolve().parents[2]
DRUG_INDEX = ROOT / "cds_service" / "data" / "drug_index.sqlite"
INTERACTIONS = ROOT / "cds_service" / "data" / "interactions.sqlite"
MODELS = ("network", "tree", "similarity vote", "popularity", "rules")


def _fitters(
    table: DrugTable,
    inputs: DrugInputs,
    labels: LabelledPairs,
    config: ClinicalConfig,
    with_tree: bool,
) -> dict[str, Callable[[PairSplit], dict[str, Scorer]]]:
    def network(split: PairSplit) -> dict[str, Scorer]:
        trained, votes, blend = train(table, inputs, labels, split, config)
        return network_scorers(trained, inputs, votes, blend)

    fitters: dict[str, Callable[[PairSplit], dict[str, Scorer]]] = {
        "network": network,
        "similarity vote": lambda split: baselines.similarity_vote(table, labels, split),
        "popularity": lambda split: baselines.popularity(table, labels, split),
        "rules": lambda split: baselines.rules(labels),
    }
    if with_tree:
        fitters["tree"] = lambda split: baselines.tree(table, labels, split, split.seed)
    return fitters


def run(
    config: ClinicalConfig,
    seeds: int,
    out: Path,
    with_tree: bool,
    drug_table: Path | None,
    shared: Path,
    splits: tuple[ClinicalSplit, ...] = SPLITS,
) -> dict[str, Any]:
    if drug_table and drug_table.exists():
        table = DrugTable.load(drug_table)
    else:
        table = build_drug_table(DRUG_INDEX, shared, config.features)
        if drug_table:  # built once, reused by the next run
            drug_table.parent.mkdir(parents=True, exist_ok=True)
            table.save(drug_table)
    labels = read_labels(INTERACTIONS, table.index(), config.labels)
    inputs = DrugInputs.from_table(table)
    results = json.loads(out.read_text()) if out.exists() else {}
    fitters = _fitters(table, inputs, labels, config, with_tree)
    for seed in range(seeds):  # seeds outermost: an interrupted run has every split
        for split_name in splits:
            split = make_split(split_name, labels.pairs, len(table.rxcuis), config, seed)
            tests = task_sets(labels, split.pairs, split.test, seed)
            for model_name, fit in fitters.items():
                key = f"{split_name}/{seed}/{model_name}"
                if key in results:
                    continue
                started = time.monotonic()
                scorers = fit(split)
                scores = score_tasks(tests, scorers)
                if model_name == "network":
                    task = tests["major vs none"]
                    probability = scorers["major"](task.pairs)
                    scores["ECE major vs none"] = expected_calibration_error(
                        task.labels, probability
                    )
                scores["seconds"] = round(time.monotonic() - started, 1)
                results[key] = scores
                out.write_text(json.dumps(results, indent=1, sort_keys=True))
                print(f"{key}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        "| split | model | " + " | ".join(TASKS) + " |",
        "|---|---|" + "---:|" * len(TASKS),
    ]
    for split_name in SPLITS:
        for model_name in MODELS:
            runs = [
                v
                for k, v in results.items()
                if k.startswith(f"{split_name}/") and k.endswith(f"/{model_name}")
            ]
            if not runs:
                continue
            cells = []
            for task in TASKS:
                values = np.array([r[task] for r in runs if task in r], dtype=float)
                cells.append(
                    f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}"
                    if len(runs) > 1
                    else f"{values[0]:.3f}"
                )
            lines.append(
                f"| {split_name} ({len(runs)} seeds) | {model_name} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=list(SPLITS),
        help="which splits (the drug splits need the seeds; the random split varies little)",
    )
    parser.add_argument("--small", action="store_true", help="the CI setting: a few epochs")
    parser.add_argument("--no-tree", action="store_true", help="skip the tree baseline (slow)")
    parser.add_argument("--out", type=Path, default=Path("clinical-results.json"))
    parser.add_argument("--drug-table", type=Path, help="a built drug table (.npz) to reuse")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    config = ClinicalConfig.small() if args.small else ClinicalConfig()
    results = run(
        config,
        args.seeds,
        args.out,
        not args.no_tree,
        args.drug_table,
        args.shared,
        tuple(args.splits),
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
