"""Measure: which reference-list pairs get a side-effect signal from the model, with the
de-confounding of `model.drug_alone` at several margins (issue 21, item 4).

    .venv/bin/python bench/side_effect_signals.py

A "signal" is what a card's "Model signal" line and the explanation page's interaction reading
draw on: a serious or life-threatening side effect the policy would name
(`PredictionPolicy.select`) that neither drug explains alone. Each pair of
`tests/data/reference_pairs.tsv` is scored as its products' ingredient pairs; the table gives,
per expected grade, how many pairs have a signal and the side effects named most often.
`none` rows are the harmless pairs: they should have none.

Then, over the pairs both of whose drugs the model was trained on, the AUROC of severe
(contraindicated or major) against harmless pairs, ranked by the pair's highest serious or
life-threatening probability, raw and less each drug's own rate.
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

import cds_service.adapters.model_predictions as model_predictions
from cds_service.adapters.model_predictions import ModelPredictions, load_predictor
from cds_service.adapters.prediction_cache import PredictionCache
from cds_service.core.drug_index import DrugIndex
from cds_service.core.predictions import PredictionPolicy
from model.inference import Predictor
from model.metrics import auroc

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_pairs.tsv"
MARGINS = (-math.inf, 0.1, 0.2, model_predictions.MIN_EXCESS, 0.35)


def reference_rows() -> list[dict]:
    with PAIRS.open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader((r for r in rows if not r.startswith("#")), delimiter="\t"))


def main() -> None:
    index = DrugIndex()
    rows = reference_rows()
    pairs = []
    for row in rows:
        a = [index.ingredient(r) for r, _ in index.ingredient_rxcuis(row["rxcui_a"])]
        b = [index.ingredient(r) for r, _ in index.ingredient_rxcuis(row["rxcui_b"])]
        pairs.append([(x, y) for x in a for y in b if x and y and x.rxcui != y.rxcui])
    for margin in MARGINS:
        model_predictions.MIN_EXCESS = margin
        source = ModelPredictions(
            load_predictor(), PredictionCache(None, key=b"k" * 32), PredictionPolicy()
        )
        with_signal: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        named: dict[str, Counter[str]] = defaultdict(Counter)
        for row, ingredient_pairs in zip(rows, pairs, strict=True):
            grade = row["expected"]
            totals[grade] += 1
            batch = source.predict_pairs(ingredient_pairs)
            effects = [e.name for p in batch.pairs.values() for e in p.effects]
            if effects:
                with_signal[grade] += 1
                named[grade].update(effects)
        label = "off" if margin == -math.inf else f"{margin:.2f}"
        print(f"margin {label}:")
        for grade in ("contraindicated", "major", "moderate", "none"):
            common = ", ".join(f"{n} ({c})" for n, c in named[grade].most_common(3))
            print(f"  {grade:16} {with_signal[grade]:3} / {totals[grade]:3}   {common}")
    ranking(load_predictor(), rows, pairs)


def ranking(predictor: Predictor, rows: list[dict], pairs: list[list]) -> None:
    matcher = model_predictions.ModelDrugMatcher(predictor)
    serious = np.array([t in ("life-threatening", "serious") for t in predictor.tiers])
    labels, raw, excess = [], [], []
    for row, ingredient_pairs in zip(rows, pairs, strict=True):
        if row["expected"] not in ("contraindicated", "major", "none"):
            continue
        best_raw, best_excess = None, None
        for a, b in ingredient_pairs:
            found = [matcher.match(a), matcher.match(b)]
            if any(isinstance(f, model_predictions.NotScored) for f in found):
                continue
            keys = (found[0][0], found[1][0])
            rates = [predictor.alone_rates(k) for k in keys]
            if rates[0] is None or rates[1] is None:
                continue
            p = predictor.predict([keys])[0]
            pair_raw = float(p[serious].max())
            pair_excess = float((p - np.maximum(*rates))[serious].max())
            best_raw = pair_raw if best_raw is None else max(best_raw, pair_raw)
            best_excess = pair_excess if best_excess is None else max(best_excess, pair_excess)
        if best_raw is not None:
            labels.append(row["expected"] != "none")
            raw.append(best_raw)
            excess.append(best_excess)
    truth = np.array(labels)
    print(f"severe against harmless, {truth.sum()} + {(~truth).sum()} pairs of trained drugs:")
    print(f"  AUROC, highest serious probability:              {auroc(truth, np.array(raw)):.3f}")
    print(
        f"  AUROC, highest serious probability less own rate: {auroc(truth, np.array(excess)):.3f}"
    )


if __name__ == "__main__":
    main()
