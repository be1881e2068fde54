"""The questions the clinical head is graded on, each a binary ranking over labelled pairs.

- `major vs none`: contraindicated or major pairs against unlisted ones;
- `major vs none, degree-matched`: the same positives against unlisted pairs rewired from the
  positives' own endpoints, so each drug appears as often among negatives as among positives;
- `major-or-moderate vs none`;
- `grading`: major or worse against moderate or minor, among graded interacting pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.clinical.labels import LabelledPairs, degree_matched_negatives
from model.metrics import auroc

Scorer = Callable[[np.ndarray], np.ndarray]  # oriented pairs (N, 2) → P(major or worse)
TASKS = ("major vs none", "major vs none, degree-matched", "major-or-moderate vs none", "grading")


@dataclass(frozen=True)
class TaskSet:
    pairs: np.ndarray  # (N, 2) oriented
    labels: np.ndarray  # (N,) bool
    score: str  # which scorer ranks it: "major", "moderate" or "grading" (major+ among listed)


def task_sets(
    labels: LabelledPairs, oriented: np.ndarray, indices: np.ndarray, seed: int
) -> dict[str, TaskSet]:
    grade = labels.grade[indices]
    pairs = oriented[indices]
    major, none = pairs[grade == 3], pairs[grade == 0]
    moderate_plus = pairs[grade >= 2]
    lesser = pairs[(grade == 1) | (grade == 2)]
    rewired = degree_matched_negatives(major, labels.listed, np.random.default_rng(seed))
    return {
        "major vs none": _binary(major, none, "major"),
        "major vs none, degree-matched": _binary(major, rewired, "major"),
        "major-or-moderate vs none": _binary(moderate_plus, none, "moderate"),
        "grading": _binary(major, lesser, "grading"),
    }


def score_tasks(sets: dict[str, TaskSet], scorers: dict[str, Scorer]) -> dict[str, float]:
    """AUROC of each task, ranked by the scorer its output names (a baseline may pass the same
    scorer for both)."""
    out = {}
    for name, task in sets.items():
        if task.labels.all() or not task.labels.any():
            out[name] = float("nan")
            continue
        out[name] = auroc(task.labels, scorers[task.score](task.pairs))
    return out


def _binary(positives: np.ndarray, negatives: np.ndarray, score: str) -> TaskSet:
    pairs = np.concatenate([positives, negatives]).reshape(-1, 2)
    labels = np.concatenate([np.ones(len(positives), bool), np.zeros(len(negatives), bool)])
    return TaskSet(pairs, labels, score)
