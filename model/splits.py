"""Train/validation/test splits and DeSIDE-style negatives.

Every unordered drug pair (645·644/2 = 207,690), reported in TWOSIDES or not, belongs to exactly
one partition, so no pair is ever seen in training and scored in test:

- **random** (DeSIDE's protocol): the (pair, side effect) positives are cut 80/10/10, each
  held-out positive with its drawn negative; training sees every pair but never a held-out cell.
  A test pair's other side effects may be in training, as in DeSIDE;
- **pairs** (stricter): pairs are cut 80/10/10, so no test pair is seen in training at all;
- **unseen**: drugs are shuffled and cut 80/10/10; training uses pairs of training drugs only,
  validation pairs one validation drug with a training drug, and test is reported separately for
  pairs with one unseen drug (test × training drug) and with both unseen (test × test).

Negatives, as DeSIDE drew them: for each positive (a, b, k) one negative is made by keeping a or
b (chosen at random) and replacing the other with a drug drawn uniformly from the 645, redrawn
until the pair is not positive for k, is not a self-pair, and lies in the same partition. This
is what DeSIDE's published example triples show: every one of its 9,630 negatives shares a drug
with a positive pair of the same side effect, and 58% are TWOSIDES pairs reported with other side
effects (this procedure gives 54% on the full data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.config import TrainConfig
from model.data import Benchmark

TRAIN, VALIDATION, TEST, TEST_BOTH, UNUSED = 0, 1, 2, 3, -1
PARTITION_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test", TEST_BOTH: "test_both"}


@dataclass(frozen=True)
class Cells:
    """Held-out (pair, side effect) cells: DeSIDE's unit of evaluation in the random split."""

    a: np.ndarray
    b: np.ndarray
    side_effect: np.ndarray
    label: np.ndarray  # bool


@dataclass(frozen=True)
class Split:
    """`partition[a, b]` is the partition of pair (a, b); `report_row[a, b]` its labels row or -1.

    In the random split every pair is a training pair and the held-out unit is the cell:
    `cells[VALIDATION]` and `cells[TEST]` list the held-out positives and their negatives,
    which training must not see (`training_mask`).
    """

    name: str
    partition: np.ndarray  # (D, D) int8, symmetric, diagonal UNUSED
    report_row: np.ndarray  # (D, D) int64, symmetric, -1 where TWOSIDES reports nothing
    held_out_drugs: np.ndarray  # unseen split: validation and test drugs; empty otherwise
    cells: dict[int, Cells] | None = None

    def pairs(self, partition: int) -> np.ndarray:
        a, b = np.nonzero(np.triu(self.partition == partition, k=1))
        return np.stack([a, b], axis=1).astype(np.int64)

    def evaluation_partitions(self) -> dict[str, int]:
        if self.name == "unseen":
            return {"test_one_unseen": TEST, "test_both_unseen": TEST_BOTH}
        return {"test": TEST}

    def held_out_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, side effect) of every cell training must not learn from."""
        if not self.cells:
            empty = np.array([], dtype=np.int64)
            return empty, empty, empty
        parts = list(self.cells.values())
        return (
            np.concatenate([c.a for c in parts]),
            np.concatenate([c.b for c in parts]),
            np.concatenate([c.side_effect for c in parts]),
        )


def training_reports(benchmark: Benchmark, split: Split) -> np.ndarray:
    """(P × S) bool: what training may know of each reported pair's side effects.

    A row is the pair's TWOSIDES labels if the pair is a training pair, with the held-out cells
    (random split) cleared; rows of validation and test pairs are all False. This is the pair's
    "report record" the network reads (`DDIModel`), so it must never carry a held-out label.
    """
    records = benchmark.labels.copy()
    training = split.partition[benchmark.pairs[:, 0], benchmark.pairs[:, 1]] == TRAIN
    records[~training] = False
    a, b, k = split.held_out_cells()
    if len(k):
        records[split.report_row[a, b], k] = False
    return records


def _report_rows(benchmark: Benchmark) -> np.ndarray:
    count = len(benchmark.drugs)
    rows = np.full((count, count), -1, dtype=np.int64)
    index = np.arange(len(benchmark.pairs))
    rows[benchmark.pairs[:, 0], benchmark.pairs[:, 1]] = index
    rows[benchmark.pairs[:, 1], benchmark.pairs[:, 0]] = index
    return rows


def make_split(benchmark: Benchmark, config: TrainConfig) -> Split:
    rng = np.random.default_rng(config.seed)
    count = len(benchmark.drugs)
    partition = np.full((count, count), UNUSED, dtype=np.int8)
    a, b = np.triu_indices(count, k=1)
    held_out = np.array([], dtype=np.int64)
    if config.split == "random":
        partition[a, b] = TRAIN
        partition[b, a] = TRAIN
        return Split(
            "random",
            partition,
            _report_rows(benchmark),
            held_out,
            _held_out_cells(benchmark, config, rng),
        )
    if config.split == "pairs":
        draw = rng.random(len(a))
        cut = np.where(
            draw < config.test_fraction,
            TEST,
            np.where(draw < config.test_fraction + config.validation_fraction, VALIDATION, TRAIN),
        )
    elif config.split == "unseen":
        order = rng.permutation(count)
        n_test = round(count * config.test_fraction)
        n_val = round(count * config.validation_fraction)
        role = np.full(count, TRAIN)
        role[order[:n_test]] = TEST
        role[order[n_test : n_test + n_val]] = VALIDATION
        held_out = np.sort(order[: n_test + n_val])
        ra, rb = role[a], role[b]
        cut = np.full(len(a), UNUSED)
        cut[(ra == TRAIN) & (rb == TRAIN)] = TRAIN
        cut[((ra == VALIDATION) & (rb != TEST)) | ((rb == VALIDATION) & (ra != TEST))] = VALIDATION
        cut[(ra == TEST) ^ (rb == TEST)] = TEST
        cut[((ra == TEST) & (rb == VALIDATION)) | ((ra == VALIDATION) & (rb == TEST))] = UNUSED
        cut[(ra == TEST) & (rb == TEST)] = TEST_BOTH
    else:
        raise ValueError(f"unknown split {config.split!r}")
    partition[a, b] = cut
    partition[b, a] = cut
    return Split(config.split, partition, _report_rows(benchmark), held_out)


def _held_out_cells(
    benchmark: Benchmark, config: TrainConfig, rng: np.random.Generator
) -> dict[int, Cells]:
    rows, effects = np.nonzero(benchmark.labels)
    draw = rng.random(len(rows))
    drugs = len(benchmark.drugs)
    report = _report_rows(benchmark)
    cells = {}
    for part, low, high in (
        (TEST, 0.0, config.test_fraction),
        (VALIDATION, config.test_fraction, config.test_fraction + config.validation_fraction),
    ):
        chosen = (draw >= low) & (draw < high)
        pa, pb = benchmark.pairs[rows[chosen], 0], benchmark.pairs[rows[chosen], 1]
        k = effects[chosen]
        kept = np.where(rng.random(len(k)) < 0.5, pa, pb)
        other = rng.integers(drugs, size=len(k))
        pending = np.ones(len(k), dtype=bool)
        while pending.any():
            index = np.flatnonzero(pending)
            row = report[kept[index], other[index]]
            bad = (kept[index] == other[index]) | (
                (row >= 0) & benchmark.labels[np.maximum(row, 0), k[index]]
            )
            pending[index[~bad]] = False
            other[pending] = rng.integers(drugs, size=int(pending.sum()))
        na, nb = np.minimum(kept, other), np.maximum(kept, other)
        cells[part] = Cells(
            a=np.r_[pa, na], b=np.r_[pb, nb], side_effect=np.r_[k, k],
            label=np.r_[np.ones(len(k), bool), np.zeros(len(k), bool)],
        )  # fmt: skip
    return cells


@dataclass(frozen=True)
class EvaluationSet:
    """Per side effect: positive and DeSIDE-negative pairs, as rows of `pairs`."""

    pairs: np.ndarray  # (N, 2) every pair of the partition (random split: of the cells)
    labels: np.ndarray | None  # (N, S) bool; None where the partition is cells, not pairs
    positive_rows: list[np.ndarray]
    negative_rows: list[np.ndarray]


def cell_evaluation_set(benchmark: Benchmark, split: Split, partition: int) -> EvaluationSet:
    """The random split's held-out cells, grouped per side effect over their distinct pairs."""
    if split.cells is None:
        raise ValueError("a pair split has no held-out cells; evaluate it by pairs")
    cells = split.cells[partition]
    key = cells.a * len(benchmark.drugs) + cells.b
    unique, inverse = np.unique(key, return_inverse=True)
    pairs = np.stack([unique // len(benchmark.drugs), unique % len(benchmark.drugs)], axis=1)
    positives, negatives = [], []
    for k in range(len(benchmark.side_effects)):
        mine = cells.side_effect == k
        positives.append(inverse[mine & cells.label])
        negatives.append(inverse[mine & ~cells.label])
    return EvaluationSet(pairs, None, positives, negatives)


def evaluation_set(
    benchmark: Benchmark, split: Split, partition: int, seed: int, max_redraws: int = 200
) -> EvaluationSet:
    if split.cells:
        return cell_evaluation_set(benchmark, split, partition)
    pairs = split.pairs(partition)
    rows = split.report_row[pairs[:, 0], pairs[:, 1]]
    labels = np.zeros((len(pairs), len(benchmark.side_effects)), dtype=bool)
    labels[rows >= 0] = benchmark.labels[rows[rows >= 0]]
    position = np.full(split.partition.shape, -1, dtype=np.int64)
    position[pairs[:, 0], pairs[:, 1]] = np.arange(len(pairs))
    position[pairs[:, 1], pairs[:, 0]] = np.arange(len(pairs))

    rng = np.random.default_rng(seed)
    drugs = len(benchmark.drugs)
    positives, negatives = [], []
    for k in range(labels.shape[1]):
        pos = np.flatnonzero(labels[:, k])
        kept = np.where(rng.random(len(pos)) < 0.5, pairs[pos, 0], pairs[pos, 1])
        other = rng.integers(drugs, size=len(pos))
        pending = np.ones(len(pos), dtype=bool)
        for _ in range(max_redraws):
            at = position[kept[pending], other[pending]]
            ok = (at >= 0) & ~labels[np.maximum(at, 0), k]
            index = np.flatnonzero(pending)
            pending[index[ok]] = False
            if not pending.any():
                break
            other[pending] = rng.integers(drugs, size=int(pending.sum()))
        done = ~pending
        positives.append(pos[done])
        negatives.append(position[kept[done], other[done]])
    return EvaluationSet(pairs, labels, positives, negatives)
