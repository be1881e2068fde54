"""The operating point behind the service's prediction thresholds (`PredictionPolicy`).

    .venv/bin/python bench/operating_point.py [--run model/artifact]

On the random split's validation cells (held-out positives, DeSIDE negatives), for the side
effects of each tier set and each probability threshold, the served (calibrated) probabilities
give:
- recall: the share of held-out positive cells at or above the threshold;
- precision on the 1:1 cells, and at natural prevalence: each side effect's negatives
  re-weighted to its base rate among all drug pairs (the rate the calibration targets), the
  precision a clinician would see if every pair were equally likely to be prescribed;
- alert volume: the share of 20,000 random pairs of the 645 drugs, and of the pairs TWOSIDES
  reports, in which some side effect of the tiers passes the threshold (what fraction of
  checked pairs would get a card of the model's own before the per-response limit).
About four minutes on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from random_run import load_random_run

from model.evaluate import base_rate_log_odds, score_pairs
from model.splits import VALIDATION, cell_evaluation_set

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
TIER_SETS = {"life-threatening": {"life-threatening"}, "serious+": {"life-threatening", "serious"}}
RANDOM_PAIRS = 20_000


def main() -> int:
    predictor, prepared = load_random_run(__doc__.split("\n")[0], Path("model/artifact"))
    config = predictor.artifact.config
    validation = cell_evaluation_set(prepared.benchmark, prepared.split, VALIDATION)
    probabilities = predictor.calibration(score_pairs(predictor.model, prepared, validation.pairs))
    base_rate = 1 / (1 + np.exp(-base_rate_log_odds(prepared.benchmark)))
    tiers = np.array(predictor.tiers)

    drugs = [d["stitch_id"] for d in predictor.artifact.drugs]
    rng = np.random.default_rng(config.seed)
    first, second = rng.integers(len(drugs), size=(2, RANDOM_PAIRS))
    keep = first != second
    pairs = zip(first[keep], second[keep], strict=True)
    random_pairs = predictor.predict([(drugs[i], drugs[j]) for i, j in pairs])
    reported_index = np.argwhere(np.triu(predictor.artifact.tensors["records.index"] >= 0, k=1))
    chosen = reported_index[rng.choice(len(reported_index), RANDOM_PAIRS, replace=False)]
    reported_pairs = predictor.predict([(drugs[i], drugs[j]) for i, j in chosen])

    table = []
    for label, tier_set in TIER_SETS.items():
        effects = np.flatnonzero(np.isin(tiers, list(tier_set)))
        for threshold in THRESHOLDS:
            tp = fp = fp_natural = positives = 0.0
            for k in effects:
                pos, neg = validation.positive_rows[k], validation.negative_rows[k]
                if len(pos) == 0 or len(neg) == 0:
                    continue
                hits_pos = float((probabilities[pos, k] >= threshold).sum())
                hits_neg = float((probabilities[neg, k] >= threshold).sum())
                natural_negatives = len(pos) * (1 - base_rate[k]) / base_rate[k]
                tp, positives = tp + hits_pos, positives + len(pos)
                fp += hits_neg
                fp_natural += hits_neg * natural_negatives / len(neg)
            flagged_random = (random_pairs[:, effects] >= threshold).any(axis=1).mean()
            flagged_reported = (reported_pairs[:, effects] >= threshold).any(axis=1).mean()
            table.append(
                {
                    "tiers": label,
                    "threshold": threshold,
                    "recall": round(tp / positives, 4),
                    "precision_1to1": round(tp / max(tp + fp, 1), 4),
                    "precision_natural": round(tp / max(tp + fp_natural, 1e-9), 4),
                    "pairs_flagged_random": round(float(flagged_random), 4),
                    "pairs_flagged_reported": round(float(flagged_reported), 4),
                }
            )
    print(json.dumps({"model_version": predictor.version, "validation": table}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
