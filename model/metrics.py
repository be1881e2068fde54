"""Ranking and calibration metrics, in plain numpy (no scikit-learn at run time).

Conventions, so figures compare with the literature:
- `auroc`: ties count one half (Mann-Whitney).
- `aupr`: average precision with the positives as the positive class (scikit-learn's
  `average_precision_score`).
- `aupr_negatives`: the same with the labels and the score flipped. DeSIDE-DDI's code scores
  distances (low = interaction) and computes AUPR with negatives as the positive class; this is
  that figure, reported only for comparison with its 0.915.
- `ap_at_k`: Decagon's AP@50, average precision over the top k, divided by min(k, positives).
- `expected_calibration_error`: mean |observed - predicted| over equal-count bins, weighted by
  bin size (equal-width bins are nearly empty at low prevalence).
"""

from __future__ import annotations

import numpy as np


def _ranks(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    average = (starts + ends - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = labels.astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum = _ranks(scores)[labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def aupr(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = labels.astype(bool)
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, hits = scores[order], labels[order]
    # Tied scores form one threshold, as in scikit-learn.
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    true_positives = np.cumsum(hits)[last_of_tie]
    predicted = last_of_tie + 1
    precision = true_positives / predicted
    recall_step = np.diff(np.r_[0, true_positives]) / positives
    return float(np.sum(precision * recall_step))


def aupr_negatives(labels: np.ndarray, scores: np.ndarray) -> float:
    return aupr(~labels.astype(bool), -scores)


def ap_at_k(labels: np.ndarray, scores: np.ndarray, k: int = 50) -> float:
    labels = labels.astype(bool)
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    top = labels[np.argsort(-scores, kind="mergesort")[:k]]
    precision_at_hits = np.cumsum(top)[top] / (np.flatnonzero(top) + 1)
    return float(precision_at_hits.sum() / min(k, positives))


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = 10
) -> float:
    if len(labels) == 0:
        return float("nan")
    order = np.argsort(probabilities, kind="mergesort")
    error = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        error += len(chunk) * abs(labels[chunk].mean() - probabilities[chunk].mean())
    return float(error / len(labels))


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((probabilities - labels.astype(np.float64)) ** 2))
