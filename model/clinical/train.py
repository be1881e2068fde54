"""Training of the clinical head on one split: cumulative grade loss plus mechanism loss, early
stopping on validation pairs (drug-disjoint for the drug splits), then the vote blend
(`model.clinical.blend`) fitted on the same validation pairs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from model.clinical.blend import VoteBlend
from model.clinical.config import ClinicalConfig
from model.clinical.drugs import DrugTable
from model.clinical.labels import LabelledPairs
from model.clinical.neighbours import QUESTIONS, NeighbourVotes
from model.clinical.network import ClinicalNetwork, grade_targets
from model.clinical.splits import PairSplit
from model.clinical.tasks import Scorer, score_tasks, task_sets


class NoVotes:
    """Neighbour votes switched off (`NetworkConfig.neighbour_votes`): no columns."""

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        return np.zeros((len(pairs), 0), dtype=np.float32)

    def partner(self, pairs: np.ndarray) -> np.ndarray:
        return np.zeros((len(pairs), 0), dtype=np.float32)


Votes = NeighbourVotes | NoVotes  # pairs (N, 2) → (N, 4) votes, or (N, 0) without


@dataclass
class DrugInputs:
    """The drug table as tensors, the gene profile standardised on the drugs that have one."""

    blocks: list[torch.Tensor]
    has: torch.Tensor
    profile_mean: np.ndarray
    profile_scale: np.ndarray

    @classmethod
    def from_table(cls, table: DrugTable) -> DrugInputs:
        with_profile = table.has[:, 3]
        mean = table.profile[with_profile].mean(axis=0)
        scale = table.profile[with_profile].std(axis=0) + 1e-3
        profile = np.where(with_profile[:, None], (table.profile - mean) / scale, 0.0)
        blocks = [table.fingerprint, table.proteins, table.atc, profile.astype(np.float32)]
        return cls(
            [torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)) for b in blocks],
            torch.from_numpy(table.has.astype(np.float32)),
            mean,
            scale,
        )

    def rows(self, index: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        return [b[index] for b in self.blocks], self.has[index]


def logits_and_votes(
    network: ClinicalNetwork, inputs: DrugInputs, votes: Votes, pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's (N, 4) grade logits, the pairs' (N, 4 or 0) neighbour votes and their
    (N, 4 or 0) partner votes."""
    network.eval()
    logits, pair_votes = [], []
    with torch.no_grad():
        drugs = network.encoder(inputs.blocks, inputs.has)  # every drug once
        for start in range(0, len(pairs), 8192):
            chunk = pairs[start : start + 8192]
            voted = votes(chunk)
            index = torch.from_numpy(chunk)
            grade, _ = network.pair_logits(
                drugs[index[:, 0]], drugs[index[:, 1]], torch.from_numpy(voted)
            )
            logits.append(grade.numpy())
            pair_votes.append(voted)
    if not logits:
        return np.zeros((0, 4), np.float32), np.zeros((0, 0), np.float32), np.zeros((0, 0))
    return np.concatenate(logits), np.concatenate(pair_votes), votes.partner(pairs)


def predict(
    network: ClinicalNetwork,
    inputs: DrugInputs,
    votes: Votes,
    pairs: np.ndarray,
    blend: VoteBlend | None = None,
) -> np.ndarray:
    """(N, 4) probabilities: listed, moderate or worse, major or worse, major or worse if
    listed; through the vote blend when there is one."""
    logits, pair_votes, partner = logits_and_votes(network, inputs, votes, pairs)
    if blend is not None and pair_votes.shape[1] == QUESTIONS:
        return blend(logits, pair_votes, partner)
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))


def fit_vote_blend(
    network: ClinicalNetwork, inputs: DrugInputs, votes: Votes, pairs: np.ndarray, grade: np.ndarray
) -> VoteBlend | None:
    """The blend fitted on `pairs` (validation) of known `grade`; None without votes."""
    logits, pair_votes, partner = logits_and_votes(network, inputs, votes, pairs)
    if pair_votes.shape[1] != QUESTIONS or not len(pairs):
        return None
    return VoteBlend.fit(logits, pair_votes, partner, grade)


def network_scorers(
    network: ClinicalNetwork, inputs: DrugInputs, votes: Votes, blend: VoteBlend | None = None
) -> dict[str, Scorer]:
    """P(major+), P(moderate+), and P(major+ | listed) for grading; the (N, 4) probabilities
    of the last pairs asked are kept, as the three are asked of the same pairs in turn."""
    last: dict[str, object] = {}

    def probabilities(pairs: np.ndarray) -> np.ndarray:
        if last.get("pairs") is not pairs:
            last["pairs"], last["p"] = pairs, predict(network, inputs, votes, pairs, blend)
        return last["p"]  # type: ignore[return-value]

    return {
        "major": lambda pairs: probabilities(pairs)[:, 2],
        "moderate": lambda pairs: probabilities(pairs)[:, 1],
        "grading": lambda pairs: probabilities(pairs)[:, 3],
    }


def train(
    table: DrugTable,
    inputs: DrugInputs,
    labels: LabelledPairs,
    split: PairSplit,
    config: ClinicalConfig,
    progress: Callable[[str], None] = print,
) -> tuple[ClinicalNetwork, Votes, VoteBlend | None]:
    torch.manual_seed(split.seed)
    torch.set_num_threads(config.threads)
    votes = neighbour_votes(table, labels, split, config)
    network = ClinicalNetwork(
        [b.shape[1] for b in inputs.blocks],
        len(labels.mechanisms),
        config.network,
        votes=QUESTIONS if config.network.neighbour_votes else 0,
    )
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    pairs = torch.from_numpy(split.pairs)
    grade = torch.from_numpy(labels.grade.astype(np.int64))
    mechanism = torch.from_numpy(labels.mechanism.astype(np.int64))
    validation = task_sets(labels, split.pairs, split.validation, split.seed)
    best, best_score, stale = copy.deepcopy(network.state_dict()), -np.inf, 0
    steps = config.epochs * -(-len(split.train) // config.batch_pairs)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=max(steps, 1), pct_start=0.1
    )
    generator = torch.Generator().manual_seed(split.seed)
    train_index = torch.from_numpy(split.train)
    for epoch in range(config.epochs):
        network.train()
        order = train_index[torch.randperm(len(train_index), generator=generator)]
        total = 0.0
        for start in range(0, len(order), config.batch_pairs):
            batch = order[start : start + config.batch_pairs]
            swap = torch.rand(len(batch), generator=generator) < 0.5  # order carries nothing
            a = torch.where(swap, pairs[batch, 1], pairs[batch, 0])
            b = torch.where(swap, pairs[batch, 0], pairs[batch, 1])
            drugs = network.encoder(inputs.blocks, inputs.has)  # every drug, once a step
            pair_votes = torch.from_numpy(votes(torch.stack([a, b], dim=1).numpy()))
            grade_logits, mechanism_logits = network.pair_logits(drugs[a], drugs[b], pair_votes)
            targets, mask = grade_targets(grade[batch])
            loss = (
                nn.functional.binary_cross_entropy_with_logits(
                    grade_logits, targets, weight=mask, reduction="sum"
                )
                / mask.sum()
            )
            typed = mechanism[batch] >= 0
            if typed.any():
                loss = loss + config.mechanism_loss_weight * nn.functional.cross_entropy(
                    mechanism_logits[typed], mechanism[batch][typed]
                )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        score = _validation_score(network, inputs, votes, validation)
        progress(
            f"  {split.name} seed {split.seed} epoch {epoch + 1}/{config.epochs}: "
            f"loss {total / max(len(order), 1):.4f}, validation {score:.4f}"
        )
        if score > best_score:
            best, best_score, stale = copy.deepcopy(network.state_dict()), score, 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    network.load_state_dict(best)
    network.eval()
    blend = None
    if config.network.vote_blend:
        chosen = split.validation
        blend = fit_vote_blend(network, inputs, votes, split.pairs[chosen], labels.grade[chosen])
    return network, votes, blend


def neighbour_votes(
    table: DrugTable, labels: LabelledPairs, split: PairSplit, config: ClinicalConfig
) -> Votes:
    if not config.network.neighbour_votes:
        return NoVotes()
    bits = np.concatenate([table.fingerprint, table.proteins, table.atc], axis=1)
    return NeighbourVotes.fit(bits, split.pairs[split.train], labels.grade[split.train])


def _validation_score(
    network: ClinicalNetwork, inputs: DrugInputs, votes: Votes, sets: dict[str, Any]
) -> float:
    """Mean AUROC of the tasks on validation pairs."""
    scores = score_tasks(sets, network_scorers(network, inputs, votes))
    return float(np.nanmean(list(scores.values())))
