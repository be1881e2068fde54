"""Every hyper-parameter of the DDI model and its training, in one place.

`TrainConfig()` is the full benchmark run; `TrainConfig.small()` is the CI setting (50 side
effects, fewer epochs). A run records its config in its checkpoint and in the artifact, so a
resumed run refuses a changed config and a published figure names the settings that made it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

SplitName = Literal["random", "pairs", "unseen"]


@dataclass(frozen=True)
class FeatureConfig:
    """Structure featurisation (stage-1 input), as in DeSIDE: ECFP4 bits plus scaled descriptors."""

    fingerprint_bits: int = 1024
    fingerprint_radius: int = 2  # ECFP4
    descriptor_clip: float = 5.0  # standardised descriptors are clipped to ±this


@dataclass(frozen=True)
class ProfileConfig:
    """The stage-1 target: random walk with restart from a drug's targets on the PPI network."""

    restart_probability: float = 0.3
    iterations: int = 40
    # Stage 1 network (DeSIDE: 512→128 on the fingerprint, 128 on the descriptors, 978 out).
    fingerprint_hidden: tuple[int, int] = (512, 128)
    descriptor_hidden: int = 128
    dropout: float = 0.2
    pretrain_epochs: int = 300
    pretrain_lr: float = 1e-3
    weight_decay: float = 1e-4


@dataclass(frozen=True)
class PairConfig:
    """Stage 2: gene gates over the pair, drug embedding, translation head per side effect."""

    hidden: int = 512  # the shared dense layer each drug's profile goes through
    embedding: int = 256  # drug embedding (DeSIDE: 100; 256 measured better here)
    interaction_hidden: int = 512  # the interaction head; 1024 scores 190 pairs too slowly
    translation: int = 64  # translation-score space (DeSIDE: 100); 64 keeps 190 pairs < 20 ms
    dropout: float = 0.1
    # Each training drug also has a learnt memory vector; it is dropped this often in training
    # so the structure-only path (all a new drug has) stays a complete model.
    identity_dropout: float = 0.2
    # A training pair's report record (its other side effects) is encoded to this many numbers;
    # in training each record entry is hidden this often (so the code learns to predict a side
    # effect from the others) and whole records this often (so pairs without one are scored).
    record_code: int = 64
    record_denoise: float = 0.5
    record_dropout: float = 0.2


@dataclass(frozen=True)
class TrainConfig:
    """One training run: which split, how long, how it learns."""

    split: SplitName = "random"
    seed: int = 20261122
    side_effects: int | None = None  # None: all 963; an int keeps the most frequent ones
    epochs: int = 20
    batch_pairs: int = 1024
    lr: float = 5e-3
    lr_final_fraction: float = 0.05  # cosine decay to this fraction of lr
    weight_decay: float = 1e-5
    profile_loss_weight: float = 1.0  # keeps fine-tuned profiles near the RWR proxy
    # Pairs outside TWOSIDES are all-negative; this fraction of them is shown per epoch.
    unreported_pair_fraction: float = 0.5
    # Split fractions: of all drug pairs (random) or of drugs (unseen).
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    # Evaluation: side effects with fewer test positives than this are left out of the macro.
    min_test_positives: int = 5
    threads: int = 2
    features: FeatureConfig = field(default_factory=FeatureConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    pair: PairConfig = field(default_factory=PairConfig)

    @classmethod
    def small(cls, split: SplitName = "random") -> TrainConfig:
        """The CI setting: 50 most frequent side effects, a few epochs, minutes on 2 cores."""
        return cls(
            split=split,
            side_effects=50,
            epochs=3,
            unreported_pair_fraction=0.25,
            profile=ProfileConfig(pretrain_epochs=60),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        data["features"] = FeatureConfig(**data["features"])
        profile = dict(data["profile"])
        profile["fingerprint_hidden"] = tuple(profile["fingerprint_hidden"])
        data["profile"] = ProfileConfig(**profile)
        data["pair"] = PairConfig(**data["pair"])
        return cls(**data)
