"""The vote blend (`VoteBlend`): each output's probability is a logistic function of the network's
logit for it and of the pair's four neighbour votes and four partner votes (`neighbours`),
fitted on the validation pairs. The network sees the neighbour votes as an input, yet on drugs
it has not seen it leans on them less than it should: on the one-new split (seed 0) averaging
its ranking with the votes' ranking added 0.014 to 0.023 AUROC on three of the four tasks
(`bench/clinical_ensemble.py`). The partner vote (how the known drug's own partners like the new
one were graded) is the strongest single evidence for one new drug; all four questions are
offered to each output, as "major or worse" among a drug's partners says less than "listed"
and "major" together (one-new, seed 0: major vs none 0.920 with the same question only, 0.933
with all four). Ten numbers per output, fitted on the 60,000-odd pairs of drugs the network was
not trained on, and it is calibrated at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model.clinical.neighbours import QUESTIONS


@dataclass(frozen=True)
class VoteBlend:
    """Per output k: P = sigmoid(slope[k]·logit_k + vote[k]·votes + partner[k]·partners
    + intercept[k]), the votes and partner votes of all four questions."""

    slope: np.ndarray  # (4,)
    vote: np.ndarray  # (4 outputs, 4 questions)
    partner: np.ndarray  # (4 outputs, 4 questions)
    intercept: np.ndarray  # (4,)

    def __call__(self, logits: np.ndarray, votes: np.ndarray, partner: np.ndarray) -> np.ndarray:
        z = logits * self.slope + votes @ self.vote.T + partner @ self.partner.T + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    @classmethod
    def fit(
        cls, logits: np.ndarray, votes: np.ndarray, partner: np.ndarray, grade: np.ndarray
    ) -> VoteBlend:
        """Fitted on pairs of known `grade` (validation): (N, 4) logits, votes and partner
        votes."""
        fits = [
            fit_logistic(
                np.concatenate([logits[known, k : k + 1], votes[known], partner[known]], axis=1),
                target[known],
            )
            for k, (target, known) in enumerate(output_targets(grade))
        ]
        return cls(
            np.array([w[0] for w, _ in fits], np.float32),
            np.stack([w[1 : 1 + QUESTIONS] for w, _ in fits]).astype(np.float32),
            np.stack([w[1 + QUESTIONS :] for w, _ in fits]).astype(np.float32),
            np.array([b for _, b in fits], np.float32),
        )

    @classmethod
    def from_json(cls, fits: list[dict[str, Any]]) -> VoteBlend:
        """As `as_json` wrote it; a calibration without votes (Platt) has zero vote weights."""

        def weights(k: int, fit: dict[str, Any], name: str) -> np.ndarray:
            value = fit.get(name, 0.0)
            if isinstance(value, list):
                return np.array(value, dtype=np.float32)
            return np.eye(QUESTIONS, dtype=np.float32)[k] * float(value)  # same question only

        return cls(
            np.array([f["slope"] for f in fits], np.float32),
            np.stack([weights(k, f, "vote") for k, f in enumerate(fits)]),
            np.stack([weights(k, f, "partner") for k, f in enumerate(fits)]),
            np.array([f["intercept"] for f in fits], np.float32),
        )

    def as_json(self) -> list[dict[str, float | list[float]]]:
        return [
            {
                "slope": float(s),
                "vote": [float(w) for w in v],
                "partner": [float(w) for w in p],
                "intercept": float(i),
            }
            for s, v, p, i in zip(self.slope, self.vote, self.partner, self.intercept, strict=True)
        ]


def output_targets(grade: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(target, known) per output for pairs of these grades (see `grade_targets`)."""
    return [
        (grade != 0, np.ones_like(grade, bool)),
        (grade >= 2, grade >= 0),
        (grade >= 3, grade >= 0),
        (grade >= 3, grade >= 1),
    ]


def fit_logistic(
    x: np.ndarray, y: np.ndarray, ridge: float = 1e-3, iterations: int = 50
) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method on standardised features, mapped back."""
    if len(y) == 0 or y.all() or not y.any():
        return np.eye(x.shape[1])[0], 0.0  # the logit alone
    centre, spread = x.mean(axis=0), x.std(axis=0) + 1e-9
    design = np.concatenate([(x - centre) / spread, np.ones((len(x), 1))], axis=1)
    weights = np.zeros(design.shape[1])
    penalty = ridge * len(y) * np.diag([1.0] * x.shape[1] + [0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ weights, -40, 40)))
        gradient = design.T @ (p - y) + penalty @ weights
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(weights)), gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    slopes = weights[:-1] / spread
    return slopes, float(weights[-1] - slopes @ centre)
