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
    neighbours: np.ndarray  # (D, k) the training drugs most similar to each drug, never itself
    weights: np.ndarray  # (D, k) their similarities, normalised to sum to 1
    known: np.ndarray  # (4, D, D) int8 known answers between training drugs (+1 / -1 / 0)

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
        weights = np.take_along_axis(near, top, axis=1).astype(np.float32)
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        known = np.zeros((QUESTIONS, drugs, drugs), dtype=np.int8)
        targets = vote_targets(train_grade).astype(np.int8)
        a, b = train_pairs[:, 0], train_pairs[:, 1]
        for q in range(QUESTIONS):
            known[q, a, b] = targets[:, q]
            known[q, b, a] = targets[:, q]
        return cls(top, weights, known)

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        """(N, 4) votes for pairs of drug rows. A drug is never its own neighbour, so a known
        pair's own label can only enter as (b's neighbour a, a's neighbour b): taken out."""
        out = np.zeros((len(pairs), QUESTIONS), dtype=np.float32)
        for start in range(0, len(pairs), 4096):
            chunk = pairs[start : start + 4096]
            na, nb = self.neighbours[chunk[:, 0]], self.neighbours[chunk[:, 1]]
            wa, wb = self.weights[chunk[:, 0]], self.weights[chunk[:, 1]]
            own = (na == chunk[:, 1:2])[:, :, None] & (nb == chunk[:, 0:1])[:, None, :]
            for q in range(QUESTIONS):
                labels = self.known[q][na[:, :, None], nb[:, None, :]].astype(np.float32)
                labels[own] = 0.0
                out[start : start + 4096, q] = np.einsum("ni,nij,nj->n", wa, labels, wb)
        return out

    def similar_known(self, a: int, b: int, count: int = 5) -> list[tuple[int, int, float]]:
        """The known major-or-worse pairs (c, d) that weigh most in the pair's votes, c among
        a's neighbours and d among b's."""
        na, nb = self.neighbours[a], self.neighbours[b]
        weight = np.outer(self.weights[a], self.weights[b])
        weight = weight * (self.known[2][na[:, None], nb[None, :]] > 0)
        weight[(na[:, None] == b) & (nb[None, :] == a)] = 0.0
        seen: set[tuple[int, int]] = set()
        out = []
        for flat in np.argsort(-weight, axis=None):
            i, j = divmod(int(flat), weight.shape[1])
            c, d = int(na[i]), int(nb[j])
            if weight[i, j] <= 0 or len(out) == count:
                break
            if (min(c, d), max(c, d)) not in seen:
                seen.add((min(c, d), max(c, d)))
                out.append((c, d, float(weight[i, j])))
        return out
