"""`ddi-cds evaluate`: score the held-out pairs of a run and write its metrics JSON.

For each evaluation partition of the run's split (random: `test`; unseen: `test_one_unseen` and
`test_both_unseen`), per side effect and macro-averaged over side effects with at least
`min_test_positives` positives:
- on DeSIDE's protocol (each positive against one drawn negative, see `model.splits`): AUROC,
  AUPR, DeSIDE-style AUPR (negatives as the positive class) and AP@50;
- on every pair of the partition at its natural prevalence: AUROC, AUPR, and the calibration
  error (ECE, Brier) of the calibrated probabilities, which is what a card quotes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.artifact import load_artifact, write_metrics
from model.calibration import PlattCalibration
from model.config import TrainConfig
from model.data import Benchmark
from model.metrics import ap_at_k, aupr, aupr_negatives, auroc, brier, expected_calibration_error
from model.network import DDIModel
from model.prepare import Prepared, build_model, prepare
from model.splits import EvaluationSet, evaluation_set

EVALUATION_SEED_OFFSET = 1  # negatives are drawn with config.seed + this, once per partition


@torch.no_grad()
def score_pairs(
    model: DDIModel,
    prepared: Prepared,
    pairs: np.ndarray,
    batch: int = 8192,
    with_records: bool = True,
) -> np.ndarray:
    """Logits (pairs × side effects), drug profiles computed once. `with_records=False` scores
    every pair as one the model has no report record for (`bench/record_ablation.py`)."""
    model.eval()
    profiles = model.profile_net(
        torch.from_numpy(prepared.bits), torch.from_numpy(prepared.descriptors)
    )
    identity = torch.from_numpy(prepared.identity)
    out = []
    for start in range(0, len(pairs), batch):
        chunk = torch.from_numpy(pairs[start : start + batch])
        records, recorded = prepared.pair_records(chunk)
        recorded &= with_records
        out.append(
            model.pair_net.score(*model.embeddings(profiles, identity, chunk))
            + model.record_logits(model.record_code(records), recorded)
        )
    return (
        torch.cat(out).numpy() if out else np.zeros((0, model.pair_net.bias.shape[0]), np.float32)
    )


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def summarise(
    evaluation: EvaluationSet,
    logits: np.ndarray,
    side_effects: Sequence[str],
    min_positives: int,
    calibration: PlattCalibration | None = None,
) -> dict[str, Any]:
    """Per-side-effect and macro metrics for one partition (see the module docstring)."""
    probabilities = calibration(logits) if calibration is not None else None
    pair_labels = evaluation.labels  # None where the partition is the random split's cells
    rows: list[dict[str, Any]] = []
    for k, name in enumerate(side_effects):
        pos, neg = evaluation.positive_rows[k], evaluation.negative_rows[k]
        if len(pos) < min_positives:
            rows.append({"side_effect": name, "positives": len(pos), "included": False})
            continue
        labels = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
        scores = np.r_[logits[pos, k], logits[neg, k]]
        row = {
            "side_effect": name,
            "positives": len(pos),
            "included": True,
            "auroc": auroc(labels, scores),
            "aupr": aupr(labels, scores),
            "aupr_deside_style": aupr_negatives(labels, scores),
            "ap_at_50": ap_at_k(labels, scores, 50),
        }
        if pair_labels is not None:
            row["all_pairs_auroc"] = auroc(pair_labels[:, k], logits[:, k])
            row["all_pairs_aupr"] = aupr(pair_labels[:, k], logits[:, k])
        if probabilities is not None:
            # Natural prevalence where the partition is pairs; the 1:1 cells otherwise.
            if pair_labels is not None:
                truth, predicted = pair_labels[:, k], probabilities[:, k]
            else:
                truth, predicted = labels, np.r_[probabilities[pos, k], probabilities[neg, k]]
            row["ece"] = expected_calibration_error(truth, predicted)
            row["brier"] = brier(truth, predicted)
        rows.append(row)
    included = [r for r in rows if r["included"]]
    keys = (
        [k for k in included[0] if k not in ("side_effect", "positives", "included")]
        if included
        else []
    )
    macro = {key: _mean([r[key] for r in included]) for key in keys}
    return {
        "pairs": len(evaluation.pairs),
        "side_effects_scored": len(included),
        "side_effects_left_out": len(rows) - len(included),
        "positives": int(sum(len(p) for p in evaluation.positive_rows)),
        "macro": macro,
        "per_side_effect": rows,
    }


def base_rate_log_odds(benchmark: Benchmark) -> np.ndarray:
    """log odds of each side effect among all drug pairs (the natural prevalence)."""
    all_pairs = len(benchmark.drugs) * (len(benchmark.drugs) - 1) // 2
    rate = (benchmark.labels.sum(axis=0) + 1) / (all_pairs + 2)
    return np.log(rate / (1 - rate))


def evaluate_run(run_dir: Path, data_dir: Path, prepared: Prepared | None = None) -> dict[str, Any]:
    artifact = load_artifact(run_dir)
    config = artifact.config
    prepared = prepared or prepare(config, data_dir)

    model = build_model(config, prepared)
    model.load_state_dict(artifact.network_state())
    calibration = PlattCalibration(
        artifact.tensors["calibration.slope"], artifact.tensors["calibration.intercept"]
    )
    names = [s["name"] for s in artifact.side_effects]
    results: dict[str, Any] = {
        "model_version": artifact.version,
        "split": config.split,
        "config": json.loads(config.to_json()),
        "protocol": "see model/MODEL_CARD.md#evaluation-protocol",
        "partitions": {},
    }
    for label, partition in prepared.split.evaluation_partitions().items():
        evaluation = evaluation_set(
            prepared.benchmark, prepared.split, partition, config.seed + EVALUATION_SEED_OFFSET
        )
        logits = score_pairs(model, prepared, evaluation.pairs)
        # On 1:1 cells, judge the fit before its shift to the natural base rate.
        judged = (
            calibration
            if evaluation.labels is not None
            else calibration.shifted(-base_rate_log_odds(prepared.benchmark))
        )
        results["partitions"][label] = summarise(
            evaluation, logits, names, config.min_test_positives, judged
        )
    results["validation"] = artifact.metrics.get("validation", {})
    return results


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv) if argv is not None else sys.argv[1:]
    if "--all" in argv:  # both heads' figures in one table (model.summary)
        from model.summary import main as summary

        return summary(argv)
    parser = argparse.ArgumentParser(prog="ddi-cds evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/random"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, help="metrics JSON (default: <run-dir>/metrics.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(TrainConfig().threads)
    started = time.perf_counter()
    results = evaluate_run(args.run_dir, args.data)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    else:
        write_metrics(args.run_dir, results)
    for label, part in results["partitions"].items():
        macro = part["macro"]
        print(
            f"{results['split']}/{label}: {part['side_effects_scored']} side effects, "
            f"AUROC {macro.get('auroc', float('nan')):.3f}, "
            f"AUPR {macro.get('aupr', float('nan')):.3f}, "
            f"AUPR(DeSIDE-style) {macro.get('aupr_deside_style', float('nan')):.3f}, "
            f"AP@50 {macro.get('ap_at_50', float('nan')):.3f}, "
            f"all-pairs AUROC {macro.get('all_pairs_auroc', float('nan')):.3f}, "
            f"ECE {macro.get('ece', float('nan')):.4f}",
            file=sys.stderr,
        )
    print(f"evaluated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
