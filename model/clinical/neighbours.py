"""Similar known pairs: what the known interactions of the drugs most like each of a pair say.

A drug's neighbours are the `NEIGHBOURS` training drugs most similar to it (Tanimoto over its
fingerprint, protein and ATC bits), never itself, so that a training drug and a drug nobody has
seen are described the same way. A pair's votes, one per question (listed, moderate or worse,
major or worse, major among listed), are the similarity-weighted known labels (+1 / -1) of the
pairs between the two drugs' neighbours; a training pair's own label is taken out of its votes.
The votes are an input of the network and the "similar known pairs" a prediction leans on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 20
QUESTIONS = 4  # listed, moderate+, major+, major+ among listed


def similarity(bits: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of every drug to every drug (0/1 feature rows)."""
    shared = bits @ bits.T
    counts = bits.sum(axis=1)
    return shared / np.maximum(counts[:, None] + counts[None, :] - shared, 1.0)


def vote_targets(grade: np.ndarray) -> np.ndarray:
    """(N, 4) in {+1, -1, 0}: the known answer of each question for each pair, 0 unknown."""
    listed = np.where(grade != 0, 1, -1)
    moderate = np.where(grade >= 2, 1, np.where(grade >= 0, -1, 0))
    major = np.where(grade >= 3, 1, np.where(grade >= 0, -1, 0))
    among_listed = np.where(grade >= 3, 1, np.where(grade >= 1, -1, 0))
    return np.stack([listed, moderate, major, among_listed], axis=1).astype(np.float32)


@dataclass(frozen=True)
class NeighbourVotes:
    weights: np.ndarray  # (D, D) row-normalised similarity to the top training neighbours
    known: np.ndarray  # (4, D, D) known labels between training drugs
    votes: np.ndarray  # (4, D, D) weights @ known @ weights.T

    @classmethod
    def fit(
        cls, bits: np.ndarray, train_pairs: np.ndarray, train_grade: np.ndarray
    ) -> NeighbourVotes:
        drugs = len(bits)
        near = similarity(bits)
        np.fill_diagonal(near, 0.0)
        in_training = np.zeros(drugs, dtype=bool)
        in_training[train_pairs.ravel()] = True
        near[:, ~in_training] = 0.0
        top = np.argpartition(-near, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
        rows = np.arange(drugs)[:, None]
        weights = np.zeros_like(near, dtype=np.float32)
        weights[rows, top] = near[rows, top]
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        known = np.zeros((QUESTIONS, drugs, drugs), dtype=np.float32)
        targets = vote_targets(train_grade)
        a, b = train_pairs[:, 0], train_pairs[:, 1]
        for q in range(QUESTIONS):
            known[q, a, b] = targets[:, q]
            known[q, b, a] = targets[:, q]
        votes = np.stack([weights @ known[q] @ weights.T for q in range(QUESTIONS)])
        return cls(weights, known, votes)

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        """(N, 4) votes for pairs of drug rows, each pair's own known label taken out."""
        a, b = pairs[:, 0], pairs[:, 1]
        own = self.weights[a, b] * self.weights[b, a]
        return (self.votes[:, a, b] - own * self.known[:, b, a]).T.astype(np.float32)

    def similar_known(self, a: int, b: int, count: int = 5) -> list[tuple[int, int, float]]:
        """The known major-or-worse pairs (c, d) that weigh most in the pair's votes."""
        weight = np.outer(self.weights[a], self.weights[b])
        weight = weight * (self.known[2] > 0)
        weight[a, b] = weight[b, a] = 0.0
        order = np.argsort(-weight, axis=None)[:count]
        out = []
        for flat in order:
            c, d = divmod(int(flat), weight.shape[1])
            if weight[c, d] > 0:
                out.append((c, d, float(weight[c, d])))
        return out
