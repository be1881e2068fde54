"""How far the side-effect model's scores move between two artifacts of the same network (for
example float32 storage against float16): max and mean absolute difference of the calibrated
probabilities, and how many (pair, side effect) cells cross the card threshold.

    mkdir -p /tmp/f32 && for f in weights.npz model.json metrics.json; do
      git show c024ecf:model/artifact/$f > /tmp/f32/$f; done
    .venv/bin/python bench/artifact_precision.py --before /tmp/f32 --after model/artifact
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cds_service.config import Settings
from model.inference import Predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=3000)
    args = parser.parse_args()
    before, after = Predictor(args.before), Predictor(args.after)
    drugs = [d["stitch_id"] for d in before.artifact.drugs]
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(drugs), size=(args.pairs, 2))
    pairs = [(drugs[a], drugs[b]) for a, b in chosen if a != b]
    # and drugs the model never saw, scored by structure alone
    pairs += [("CC(=O)Oc1ccccc1C(=O)O", drugs[k]) for k in range(0, len(drugs), 10)]
    p_before = np.concatenate(
        [before.predict(pairs[i : i + 256]) for i in range(0, len(pairs), 256)]
    )
    p_after = np.concatenate([after.predict(pairs[i : i + 256]) for i in range(0, len(pairs), 256)])
    difference = np.abs(p_before - p_after)
    threshold = Settings().prediction_card_threshold
    crossed = ((p_before >= threshold) != (p_after >= threshold)).sum()
    print(
        f"{len(pairs)} pairs × {p_before.shape[1]} side effects "
        f"({before.version} → {after.version})"
    )
    print(
        f"|Δp| max {difference.max():.5f}, mean {difference.mean():.6f}, p99.9 "
        f"{np.quantile(difference, 0.999):.5f}"
    )
    print(
        f"cells crossing the card threshold {threshold}: {crossed} of {difference.size:,} "
        f"({crossed / difference.size:.2e})"
    )


if __name__ == "__main__":
    main()
