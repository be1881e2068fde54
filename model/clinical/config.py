"""Every hyper-parameter of the clinical head, its data and its evaluation, in one place."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal

ClinicalSplit = Literal["random", "one-new", "two-new"]
SPLITS: tuple[ClinicalSplit, ...] = ("random", "one-new", "two-new")


@dataclass(frozen=True)
class DrugFeatureConfig:
    """The per-drug representation: what each block holds and how rare a token may be."""

    fingerprint_bits: int = 1024  # ECFP4, as the side-effect model
    min_token_drugs: int = 5  # a protein-action or ATC token kept when this many drugs carry it
    restart_probability: float = 0.3  # gene-space profile: random walk with restart from targets
    walk_iterations: int = 30


@dataclass(frozen=True)
class LabelConfig:
    """Which pairs are labelled and how negatives are drawn."""

    # Unlisted pairs drawn per listed pair, among drugs a comprehensive source covers (DDInter)
    negatives_per_positive: float = 1.0
    seed: int = 20261207


@dataclass(frozen=True)
class NetworkConfig:
    drug_hidden: int = 512
    drug_embedding: int = 256
    pair_hidden: int = 256
    dropout: float = 0.3
    # Each block of a drug's input (fingerprint, proteins, ATC, profile) is hidden whole this
    # often in training, so the model answers for drugs that lack a block and leans on none alone.
    block_dropout: float = 0.25
    # Each input bit or value is also dropped this often: training drugs cannot be memorised by
    # their exact fingerprint, which a new drug does not share.
    bit_dropout: float = 0.3
    neighbour_votes: bool = True  # the pair also sees what similar drugs' known pairs say
    # Each output's probability from the network's logit and the pair's vote, fitted on the
    # validation pairs (model.clinical.blend.VoteBlend); off: sigmoid of the logit
    vote_blend: bool = True


@dataclass(frozen=True)
class ClinicalConfig:
    seed: int = 20261207
    drug_test_fraction: float = 0.2  # drugs held out entirely (one-new / two-new)
    drug_validation_fraction: float = 0.1  # of the remaining drugs: drug-disjoint validation
    pair_test_fraction: float = 0.1  # random split
    pair_validation_fraction: float = 0.1
    epochs: int = 25
    patience: int = 6  # early stopping on drug-disjoint validation (random: pair validation)
    batch_pairs: int = 2048
    lr: float = 3e-3  # peak of a one-cycle schedule
    weight_decay: float = 1e-3
    mechanism_loss_weight: float = 0.3
    threads: int = 2
    features: DrugFeatureConfig = field(default_factory=DrugFeatureConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    @classmethod
    def small(cls) -> ClinicalConfig:
        """The CI setting: a few epochs, minutes on 2 cores."""
        return cls(epochs=3, patience=2)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)
