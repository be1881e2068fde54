"""The clinical head's network: a drug encoder over what is known of each drug alone, and a
symmetric pair model with three outputs.

    drug  = MLP([fingerprint, proteins, ATC, gene profile] with whole blocks dropped)
    pair  = MLP([drug_a + drug_b, drug_a * drug_b, votes])    (order-free)
    grade = sigmoid(pair · W + b): P(listed), P(moderate or worse), P(major or worse), and
            P(major or worse | listed), the grading among interacting pairs (own head: how
            severe is not the same question as whether)
    mechanism = softmax over the 86 DrugBank interaction types

`votes` are what the known pairs of each drug's most similar drugs say (`neighbours`): four
numbers, computed the same way for a training drug and a new one. No per-drug identity enters
anywhere: a drug's embedding is a function of its features, so a
drug never seen in training is scored by the same path as a training drug.
"""

from __future__ import annotations

import torch
from torch import nn

from model.clinical.config import NetworkConfig

GRADE_OUTPUTS = 4  # P(listed), P(moderate+), P(major+), P(major+ | listed)


class DrugEncoder(nn.Module):
    def __init__(self, block_sizes: list[int], config: NetworkConfig) -> None:
        super().__init__()
        self.block_sizes = block_sizes
        self.block_dropout = config.block_dropout
        self.bit_dropout = config.bit_dropout
        self.net = nn.Sequential(
            nn.Linear(sum(block_sizes) + len(block_sizes), config.drug_hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.drug_hidden, config.drug_embedding),
            nn.ReLU(),
        )

    def forward(self, blocks: list[torch.Tensor], has: torch.Tensor) -> torch.Tensor:
        """`has` (N, blocks): which blocks each drug has; in training whole blocks are hidden
        at random (never all of a drug's), and the encoder sees which ones it was given."""
        present = has.float()
        if self.training and self.block_dropout > 0:
            keep = (torch.rand_like(present) >= self.block_dropout).float() * present
            nothing_left = keep.sum(dim=1, keepdim=True) == 0
            present = torch.where(nothing_left, present, keep)
        parts = [block * present[:, i : i + 1] for i, block in enumerate(blocks)]
        if self.training and self.bit_dropout > 0:  # a drug never looks exactly the same twice
            parts = [nn.functional.dropout(p, self.bit_dropout) for p in parts]
        return self.net(torch.cat([*parts, present], dim=1))


class ClinicalNetwork(nn.Module):
    def __init__(
        self, block_sizes: list[int], mechanisms: int, config: NetworkConfig, votes: int = 0
    ) -> None:
        super().__init__()
        self.encoder = DrugEncoder(block_sizes, config)
        self.pair = nn.Sequential(
            nn.Linear(2 * config.drug_embedding + votes, config.pair_hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.pair_hidden, config.pair_hidden),
            nn.ReLU(),
        )
        self.grade = nn.Linear(config.pair_hidden, GRADE_OUTPUTS)
        self.mechanism = nn.Linear(config.pair_hidden, mechanisms)

    def forward(
        self,
        blocks_a: list[torch.Tensor],
        has_a: torch.Tensor,
        blocks_b: list[torch.Tensor],
        has_b: torch.Tensor,
        votes: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(grade logits (N, 4), mechanism logits (N, types))."""
        return self.pair_logits(self.encoder(blocks_a, has_a), self.encoder(blocks_b, has_b), votes)

    def pair_logits(
        self, a: torch.Tensor, b: torch.Tensor, votes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The pair part alone, from two drugs' embeddings (training encodes every drug once a
        step and looks the pairs up) and the pair's neighbour votes ((N, 0) when unused)."""
        hidden = self.pair(torch.cat([a + b, a * b, votes], dim=1))
        return self.grade(hidden), self.mechanism(hidden)


def grade_targets(grade: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (N, 4) and their mask from grades (3 major+, 2 moderate, 1 minor, 0 none, -1
    listed without a grade: only 'listed' is known; the grading output only for graded pairs)."""
    listed = (grade != 0).float()
    targets = torch.stack(
        [listed, (grade >= 2).float(), (grade >= 3).float(), (grade >= 3).float()], dim=1
    )
    mask = torch.ones_like(targets)
    ungraded = grade == -1
    mask[ungraded, 1:] = 0.0
    mask[grade <= 0, 3] = 0.0
    return targets, mask
