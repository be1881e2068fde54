"""Reference point for the DDI model: how far drug identity alone goes on the random split.

    .venv/bin/python bench/latent_factor_ceiling.py [--dim 256] [--hidden 2048] [--epochs 20]
        [--record]

Each of the 645 drugs gets a free vector (no structure, no genes); a pair is scored by the model's
interaction head (per-drug propensity, a bilinear term and a one-hidden-layer network on
[e_a + e_b; e_a ⊙ e_b]),
trained with the model's loss on the model's random split (held-out cells masked) and scored on
its test cells with `model.evaluate.summarise`. The gap between this and the full network is
what the structure path costs on known drugs. With `--record` the pair's report record is added
as in `DDIModel` (a 64-number denoising code decoded to one logit term per side effect, entries
hidden and whole records dropped at the model's rates): drug identity plus the pair's own record,
everything the random split lets a model know, with no structure at all. Takes 10 to 25 minutes on
2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from model.config import PairConfig, TrainConfig
from model.data import load_benchmark
from model.evaluate import summarise
from model.splits import (
    TEST,
    TRAIN,
    VALIDATION,
    Split,
    cell_evaluation_set,
    make_split,
    training_reports,
)
from model.train import training_mask


class PairRecords:
    """Each pair's report record and whether it has one, as `Prepared.pair_records` gives them."""

    def __init__(self, records: torch.Tensor, split: Split) -> None:
        self.records = records
        self.report_row = torch.from_numpy(split.report_row)
        self.training = torch.from_numpy(split.partition == TRAIN)

    def __call__(self, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.report_row[pairs[:, 0], pairs[:, 1]]
        records = torch.zeros((len(pairs), self.records.shape[1]))
        records[rows >= 0] = self.records[rows[rows >= 0]]
        return records, self.training[pairs[:, 0], pairs[:, 1]]


class FreeVectors(nn.Module):
    def __init__(
        self, drugs: int, side_effects: int, dim: int, hidden: int, record_code: int = 0
    ) -> None:
        super().__init__()
        self.drug = nn.Embedding(drugs, dim)
        nn.init.normal_(self.drug.weight, std=0.1)
        self.propensity = nn.Linear(dim, side_effects)
        self.bilinear = nn.Linear(dim, side_effects, bias=False)
        self.interaction = nn.Sequential(
            nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, side_effects)
        )
        self.record = (
            nn.Sequential(
                nn.Linear(side_effects, record_code),
                nn.ReLU(),
                nn.Linear(record_code, side_effects, bias=False),
            )
            if record_code
            else None
        )

    def forward(
        self, pairs: torch.Tensor, records: torch.Tensor, recorded: torch.Tensor
    ) -> torch.Tensor:
        a, b = self.drug(pairs[:, 0]), self.drug(pairs[:, 1])
        logits = (
            self.propensity(a)
            + self.propensity(b)
            + self.bilinear(a * b)
            + self.interaction(torch.cat([a + b, a * b], dim=-1))
        )
        if self.record is None:
            return logits
        return logits + self.record(records) * recorded.unsqueeze(1)


@torch.no_grad()
def _score(model: FreeVectors, pairs: np.ndarray, pair_records: PairRecords) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(pairs), 8192):
        chunk = torch.from_numpy(pairs[start : start + 8192])
        out.append(model(chunk, *pair_records(chunk)))
    return torch.cat(out).numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--record", action="store_true", help="add the pair's report record")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    config = TrainConfig()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    benchmark = load_benchmark(args.data)
    split = make_split(benchmark, config)
    drugs, effects = len(benchmark.drugs), len(benchmark.side_effects)
    trainable = training_mask(split, drugs, effects)
    labels, report_row = torch.from_numpy(benchmark.labels), torch.from_numpy(split.report_row)
    pairs = torch.from_numpy(split.pairs(TRAIN))
    names = [s.name for s in benchmark.side_effects]
    validation = cell_evaluation_set(benchmark, split, VALIDATION)
    pair_records = PairRecords(
        torch.from_numpy(training_reports(benchmark, split).astype("float32")), split
    )
    record = PairConfig()
    model = FreeVectors(
        drugs, effects, args.dim, args.hidden, record.record_code if args.record else 0
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    total = args.epochs * math.ceil(len(pairs) / config.batch_pairs)
    step = 0
    for epoch in range(args.epochs):
        started = time.perf_counter()
        model.train()
        shuffled = pairs[torch.randperm(len(pairs))]
        for start in range(0, len(shuffled), config.batch_pairs):
            batch = shuffled[start : start + config.batch_pairs]
            rows = report_row[batch[:, 0], batch[:, 1]]
            target = torch.zeros((len(batch), effects))
            target[rows >= 0] = labels[rows[rows >= 0]].float()
            weight = trainable[batch[:, 0] * drugs + batch[:, 1]].float()
            records, recorded = pair_records(batch)
            if args.record:  # drawn only then, so a run without it keeps its random stream
                records = records * (torch.rand(records.shape) >= record.record_denoise)
                recorded = recorded & (torch.rand(len(batch)) >= record.record_dropout)
            for group in optimiser.param_groups:
                group["lr"] = args.lr * (0.05 + 0.475 * (1 + math.cos(math.pi * step / total)))
            step += 1
            loss = (
                functional.binary_cross_entropy_with_logits(
                    model(batch, records, recorded), target, weight, reduction="sum"
                )
                / weight.sum()
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        logits = _score(model, validation.pairs, pair_records)
        macro = summarise(validation, logits, names, config.min_test_positives)["macro"]
        print(f"epoch {epoch + 1}: validation AUROC {macro['auroc']:.4f} "
              f"({time.perf_counter() - started:.0f}s)", flush=True)  # fmt: skip
    test = cell_evaluation_set(benchmark, split, TEST)
    logits = _score(model, test.pairs, pair_records)
    macro = summarise(test, logits, names, config.min_test_positives)["macro"]
    print(json.dumps({**vars(args), "data": str(args.data), "test": macro}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
