"""Where the random-split AUROC is lost, and what a record-only model adds to it.

    .venv/bin/python bench/negative_kinds.py [--run model/artifact]

DeSIDE's negatives (`model.splits`) are of two kinds: about half are pairs TWOSIDES reports with
other side effects, half are pairs it never reports. This scores a random-split run's test cells
and prints the macro AUROC of the positives against each kind separately, and the share of each.

It also fits a full-rank item-to-item model on the training records (EASE, Steck 2019: the
closed-form linear autoencoder with a zero diagonal), which predicts a held-out side effect of a
pair from its other training side effects alone, and scores it alone and added to the run's
logits, the ridge and the weight chosen on validation. Three to five minutes on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from random_run import load_random_run

from model.evaluate import score_pairs, summarise
from model.metrics import auroc
from model.prepare import Prepared
from model.splits import TEST, VALIDATION, EvaluationSet, cell_evaluation_set

RIDGES = (200.0, 1000.0, 5000.0, 20000.0)
WEIGHTS = (10.0, 40.0, 100.0)


def by_negative_kind(evaluation: EvaluationSet, logits: np.ndarray, reported: np.ndarray) -> dict:
    """Macro AUROC of the positives against reported-pair and unreported-pair negatives."""
    against: dict[str, list[float]] = {"reported": [], "unreported": []}
    for k, (pos, neg) in enumerate(
        zip(evaluation.positive_rows, evaluation.negative_rows, strict=True)
    ):
        if len(pos) < 5:
            continue
        for kind, chosen in (("reported", neg[reported[neg]]), ("unreported", neg[~reported[neg]])):
            if len(chosen) >= 5:
                labels = np.r_[np.ones(len(pos), bool), np.zeros(len(chosen), bool)]
                against[kind].append(auroc(labels, np.r_[logits[pos, k], logits[chosen, k]]))
    negatives = np.concatenate(evaluation.negative_rows)
    return {
        "share_of_negatives_reported": float(reported[negatives].mean()),
        **{f"auroc_against_{kind}": float(np.mean(v)) for kind, v in against.items()},
    }


def item_to_item(records: np.ndarray, ridge: float) -> np.ndarray:
    """EASE weights (S × S): each side effect as a ridge regression on the others."""
    gram = records.T @ records + ridge * np.eye(records.shape[1], dtype=np.float32)
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights


def pair_records(prepared: Prepared, pairs: np.ndarray) -> np.ndarray:
    return prepared.pair_records(torch.from_numpy(pairs))[0].numpy()


def main() -> int:
    predictor, prepared = load_random_run(__doc__.split("\n")[0], Path("model/artifact"))
    config = predictor.artifact.config
    names = [s.name for s in prepared.benchmark.side_effects]
    sets = {
        part: cell_evaluation_set(prepared.benchmark, prepared.split, part)
        for part in (VALIDATION, TEST)
    }
    logits = {p: score_pairs(predictor.model, prepared, e.pairs) for p, e in sets.items()}
    records = {p: pair_records(prepared, e.pairs) for p, e in sets.items()}
    training = prepared.records.astype(np.float32)

    def macro(part: int, scores: np.ndarray) -> float:
        return summarise(sets[part], scores, names, config.min_test_positives)["macro"]["auroc"]

    best: tuple[float, float, float] = (-1.0, 0.0, 0.0)  # validation AUROC, ridge, weight
    alone: dict[float, float] = {}
    for ridge in RIDGES:
        weights = item_to_item(training, ridge)
        alone[ridge] = macro(VALIDATION, records[VALIDATION] @ weights)
        for weight in WEIGHTS:
            scored = macro(VALIDATION, logits[VALIDATION] + weight * records[VALIDATION] @ weights)
            best = max(best, (scored, ridge, weight))
    ridge_alone = max(alone, key=alone.__getitem__)
    _, ridge, weight = best
    test_item = {r: records[TEST] @ item_to_item(training, r) for r in {ridge, ridge_alone}}
    reported = prepared.split.report_row[sets[TEST].pairs[:, 0], sets[TEST].pairs[:, 1]] >= 0
    combined = logits[TEST] + weight * test_item[ridge]
    print(
        json.dumps(
            {
                "model_version": predictor.version,
                "test": {
                    "model": {"auroc": macro(TEST, logits[TEST])}
                    | by_negative_kind(sets[TEST], logits[TEST], reported),
                    "item_to_item_alone": {
                        "ridge": ridge_alone,
                        "auroc": macro(TEST, test_item[ridge_alone]),
                    },
                    "model_plus_item_to_item": {
                        "ridge": ridge,
                        "weight": weight,
                        "auroc": macro(TEST, combined),
                    }
                    | by_negative_kind(sets[TEST], combined, reported),
                },
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
