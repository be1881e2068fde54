"""Splits that say the truth about new drugs.

- `random`: pairs split at random (both drugs seen in training, with other partners);
- `one-new`: drugs held out entirely; test pairs join one held-out drug to a training drug;
- `two-new`: test pairs join two held-out drugs.
A drug split holds out `drug_test_fraction` of the drugs for test and, of the rest,
`drug_validation_fraction` for validation: validation pairs have one validation drug (and the
two-new validation pairs two), so models and early stopping are chosen on drugs training never
saw. Pairs are oriented (new drug, other drug) for degree-matched negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.clinical.config import ClinicalConfig, ClinicalSplit


@dataclass(frozen=True)
class PairSplit:
    name: ClinicalSplit
    seed: int
    train: np.ndarray  # indices into the labelled pairs
    validation: np.ndarray
    test: np.ndarray
    test_drugs: np.ndarray  # drug rows held out (empty for random)
    pairs: np.ndarray  # (P, 2) the labelled pairs, each oriented new drug first


def make_split(
    name: ClinicalSplit, pairs: np.ndarray, drug_count: int, config: ClinicalConfig, seed: int
) -> PairSplit:
    rng = np.random.default_rng(seed)
    if name == "random":
        order = rng.permutation(len(pairs))
        n_test = int(len(pairs) * config.pair_test_fraction)
        n_val = int(len(pairs) * config.pair_validation_fraction)
        return PairSplit(
            name,
            seed,
            np.sort(order[n_test + n_val :]),
            np.sort(order[n_test : n_test + n_val]),
            np.sort(order[:n_test]),
            np.array([], dtype=np.int64),
            pairs,
        )
    drugs = rng.permutation(drug_count)
    n_test = int(drug_count * config.drug_test_fraction)
    n_val = int((drug_count - n_test) * config.drug_validation_fraction)
    role = np.zeros(drug_count, dtype=np.int8)  # 0 train, 1 validation, 2 test
    role[drugs[:n_test]] = 2
    role[drugs[n_test : n_test + n_val]] = 1
    ra, rb = role[pairs[:, 0]], role[pairs[:, 1]]
    new_count = 1 if name == "one-new" else 2

    def held(kind: int) -> np.ndarray:
        count = (ra == kind).astype(int) + (rb == kind).astype(int)
        others = np.where(ra == kind, rb, ra)
        if new_count == 2:
            return np.flatnonzero(count == 2)
        return np.flatnonzero((count == 1) & (others == 0))

    oriented = pairs.copy()
    flip = rb > ra  # the held-out (higher role) drug first
    oriented[flip] = oriented[flip][:, ::-1]
    return PairSplit(
        name,
        seed,
        np.flatnonzero((ra == 0) & (rb == 0)),
        held(1),
        held(2),
        np.sort(drugs[:n_test]),
        oriented,
    )
