"""Per-side-effect Platt scaling: model logit → probability, fitted on the validation pairs.

A quoted probability must mean: among drug pairs that score like this one, this fraction were
reported in TWOSIDES with that side effect, i.e. at the natural base rate, not at the 1:1 rate
of the benchmark's negatives (which would pull every probability toward 0.5). Where validation
is whole pairs (the pairs and unseen splits) the fit is on every validation pair at its natural
prevalence. Where it is DeSIDE's 1:1 cells (random split) the fit is on the cells and then
shifted to the side effect's base rate among all drug pairs (`shifted`, Bayes' rule).
Platt (two parameters) rather than isotonic: some side effects have few validation positives,
and a monotone, smooth map with a positive slope cannot reorder the model's ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIN_SLOPE = 1e-3


@dataclass(frozen=True)
class PlattCalibration:
    slope: np.ndarray  # (S,), > 0
    intercept: np.ndarray  # (S,)

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities for logits of shape (..., S)."""
        z = np.clip(logits * self.slope + self.intercept, -40, 40)
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def fit(
        cls, logits: list[np.ndarray], labels: list[np.ndarray], iterations: int = 50
    ) -> PlattCalibration:
        """One Platt fit per side effect: `logits[k]` and `labels[k]` are that effect's points."""
        fits = [
            _platt(x.astype(np.float64), y.astype(bool), iterations)
            for x, y in zip(logits, labels, strict=True)
        ]
        return cls(
            np.array([f[0] for f in fits], dtype=np.float32),
            np.array([f[1] for f in fits], dtype=np.float32),
        )

    def shifted(self, log_prior_odds: np.ndarray) -> PlattCalibration:
        """The same fit moved to another base rate (Bayes: add the change in log prior odds)."""
        return PlattCalibration(self.slope, (self.intercept + log_prior_odds).astype(np.float32))


def _platt(x: np.ndarray, y: np.ndarray, iterations: int) -> tuple[float, float]:
    """Newton's method on the log-loss of sigmoid(slope·x + intercept), Platt's smoothed targets.

    The fit runs on standardised scores from slope 0 (the base rate), where the Hessian is well
    conditioned whatever the scale and offset of the model's logits, then maps back.
    """
    positives, count = int(y.sum()), len(y)
    if count == 0:
        return _MIN_SLOPE, 0.0
    centre, spread = float(x.mean()), float(x.std()) or 1.0
    z = (x - centre) / spread
    target = np.where(y, (positives + 1) / (positives + 2), 1 / (count - positives + 2))
    slope, intercept = 0.0, float(np.log((positives + 1) / (count - positives + 1)))
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z * slope + intercept, -40, 40)))
        residual, weight = p - target, np.maximum(p * (1 - p), 1e-12)
        g_s, g_i = float((residual * z).sum()), float(residual.sum())
        h_ss, h_si, h_ii = (
            float((weight * z * z).sum()),
            float((weight * z).sum()),
            float(weight.sum()),
        )
        det = h_ss * h_ii - h_si**2
        if det <= 1e-12:
            break
        step_s = (h_ii * g_s - h_si * g_i) / det
        step_i = (h_ss * g_i - h_si * g_s) / det
        slope, intercept = slope - step_s, intercept - step_i
        if abs(step_s) + abs(step_i) < 1e-10:
            break
    slope, intercept = slope / spread, intercept - slope * centre / spread
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope < _MIN_SLOPE:
        # A flat or inverted fit would reorder the ranking: base rate with the minimum slope.
        rate = (positives + 1) / (count + 2)
        slope = _MIN_SLOPE
        intercept = float(np.log(rate / (1 - rate)) - _MIN_SLOPE * centre)
    return float(slope), float(intercept)
