"""Baselines the clinical head must beat, fitted on the same training pairs and scored on the
same tasks. Each returns scorers by name ("major", "moderate", "grading"; see `tasks`).

- **popularity** (the floor): how many training pairs of each grade a drug is in, summed over
  the pair. A drug held out has none, so on new drugs it can only guess.
- **similarity vote** (DeepDDI's idea): the grades of known pairs between the drugs most similar
  to each (Tanimoto over fingerprint, protein and ATC bits), positives minus known negatives.
- **rules**: the project's pharmacology rules alone (their grade; 0 where none applies).
- **tree**: a gradient-boosted tree (scikit-learn) on pair features a + b and a · b of the same
  per-drug features (ECFP4, proteins with actions, ATC levels 1-3).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model.clinical.drugs import DrugTable
from model.clinical.labels import LabelledPairs
from model.clinical.splits import PairSplit
from model.clinical.tasks import Scorer

TREE_MAX_NEGATIVES_PER_POSITIVE = 3  # training negatives subsampled: memory and time
TREE_MAX_ROWS = 60_000  # then both classes, in proportion (3,692 features a row)
TREE_ITERATIONS = 200
NEIGHBOURS = 20


def _targets(grade: np.ndarray) -> dict[str, np.ndarray]:
    """Per scorer: +1 positive, -1 negative, 0 not used, for each training pair."""
    return {
        "major": np.where(grade == 3, 1, np.where(grade == 0, -1, 0)),
        "moderate": np.where(grade >= 2, 1, np.where(grade == 0, -1, 0)),
        "grading": np.where(grade == 3, 1, np.where((grade == 1) | (grade == 2), -1, 0)),
    }


def popularity(table: DrugTable, labels: LabelledPairs, split: PairSplit) -> dict[str, Scorer]:
    pairs = split.pairs[split.train]
    out = {}
    for name, target in _targets(labels.grade[split.train]).items():
        degree = np.zeros(len(table.rxcuis))
        np.add.at(degree, pairs[target > 0].ravel(), 1.0)
        out[name] = _pair_sum(degree)
    return out


def similarity_vote(table: DrugTable, labels: LabelledPairs, split: PairSplit) -> dict[str, Scorer]:
    bits = np.concatenate([table.fingerprint, table.proteins, table.atc], axis=1)
    shared = bits @ bits.T
    counts = bits.sum(axis=1)
    similarity = shared / np.maximum(counts[:, None] + counts[None, :] - shared, 1.0)
    in_training = np.zeros(len(bits), dtype=bool)
    in_training[split.pairs[split.train].ravel()] = True
    similarity[:, ~in_training] = 0.0
    top = np.argsort(-similarity, axis=1)[:, :NEIGHBOURS]
    sparse = np.zeros_like(similarity)
    rows = np.arange(len(bits))[:, None]
    sparse[rows, top] = similarity[rows, top]
    sparse /= np.maximum(sparse.sum(axis=1, keepdims=True), 1e-9)
    pairs = split.pairs[split.train]
    out = {}
    for name, target in _targets(labels.grade[split.train]).items():
        votes = np.zeros_like(similarity)
        votes[pairs[:, 0], pairs[:, 1]] = target
        votes[pairs[:, 1], pairs[:, 0]] = target
        out[name] = _pair_lookup(sparse @ votes @ sparse.T)
    return out


def rules(labels: LabelledPairs) -> dict[str, Scorer]:
    grade_of = {
        (int(a), int(b)): int(g) for (a, b), g in zip(labels.pairs, labels.rule_grade, strict=True)
    }

    def score(pairs: np.ndarray) -> np.ndarray:
        return np.array(
            [grade_of.get((min(a, b), max(a, b)), 0) for a, b in pairs.tolist()], dtype=float
        )

    return {"major": score, "moderate": score, "grading": score}


def tree(table: DrugTable, labels: LabelledPairs, split: PairSplit, seed: int) -> dict[str, Scorer]:
    from sklearn.ensemble import HistGradientBoostingClassifier  # the training extra only

    features = np.concatenate([table.fingerprint, table.proteins, table.atc], axis=1)
    rng = np.random.default_rng(seed)
    pairs = split.pairs[split.train]
    out = {}
    for name, target in _targets(labels.grade[split.train]).items():
        positive, negative = np.flatnonzero(target > 0), np.flatnonzero(target < 0)
        limit = TREE_MAX_NEGATIVES_PER_POSITIVE * len(positive)
        if len(negative) > limit:
            negative = rng.choice(negative, size=limit, replace=False)
        chosen = np.concatenate([positive, negative])
        if len(chosen) > TREE_MAX_ROWS:
            chosen = rng.choice(chosen, size=TREE_MAX_ROWS, replace=False)
        model = HistGradientBoostingClassifier(
            max_iter=TREE_ITERATIONS, learning_rate=0.1, random_state=seed
        )
        model.fit(_pair_features(features, pairs[chosen]), target[chosen] > 0)
        out[name] = _tree_scorer(model, features)
    return out


def _pair_features(features: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    a, b = features[pairs[:, 0]], features[pairs[:, 1]]
    return np.concatenate([a + b, a * b], axis=1)


def _tree_scorer(model: object, features: np.ndarray) -> Scorer:
    def score(pairs: np.ndarray) -> np.ndarray:
        return model.predict_proba(_pair_features(features, pairs))[:, 1]  # type: ignore[attr-defined]

    return score


def _pair_sum(degree: np.ndarray) -> Scorer:
    def score(pairs: np.ndarray) -> np.ndarray:
        return degree[pairs[:, 0]] + degree[pairs[:, 1]]

    return score


def _pair_lookup(matrix: np.ndarray) -> Scorer:
    def score(pairs: np.ndarray) -> np.ndarray:
        return matrix[pairs[:, 0], pairs[:, 1]]

    return score


BaselineFit = Callable[[DrugTable, LabelledPairs, PairSplit], dict[str, Scorer]]
