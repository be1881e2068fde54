"""Everything a training or evaluation run needs, built deterministically from the config.

Training and evaluation both call `prepare(config, data_dir)`, so the split, the features and
the stage-1 targets that `evaluate` scores are exactly the ones `train` held out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.config import TrainConfig
from model.data import Benchmark, load_benchmark
from model.features import DESCRIPTOR_NAMES, DescriptorScaler, featurise, raw_descriptors
from model.network import DDIModel
from model.profiles import random_walk_profiles
from model.splits import TRAIN, Split, make_split, training_reports


@dataclass(frozen=True)
class Prepared:
    benchmark: Benchmark
    split: Split
    bits: np.ndarray  # (D, 1024) float32
    descriptors: np.ndarray  # (D, n) float32, scaled
    scaler: DescriptorScaler
    profile_drugs: np.ndarray  # training drugs with targets: stage-1 supervision
    profile_targets: np.ndarray  # (len(profile_drugs), 978), standardised per gene
    identity: np.ndarray  # (D,) row in the model's drug memory: index + 1, 0 for held-out drugs
    records: np.ndarray  # (P, S) bool: `training_reports`, each reported pair's record

    def pair_records(self, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For (N, 2) drug pairs: (N, S) float records and (N,) bool "is a training pair".

        A training pair without TWOSIDES reports has an all-zero record, which is knowledge
        (nothing was reported); a validation or test pair has no record at all.
        """
        a, b = pairs[:, 0].numpy(), pairs[:, 1].numpy()
        rows = self.split.report_row[a, b]
        records = np.zeros((len(rows), self.records.shape[1]), dtype=np.float32)
        records[rows >= 0] = self.records[rows[rows >= 0]]
        recorded = self.split.partition[a, b] == TRAIN
        return torch.from_numpy(records), torch.from_numpy(recorded)


def prepare(config: TrainConfig, data_dir: Path, benchmark: Benchmark | None = None) -> Prepared:
    """The run's data; `benchmark` replaces the shared one (tests plant signals this way)."""
    benchmark = benchmark or load_benchmark(data_dir)
    if config.side_effects is not None:
        benchmark = benchmark.keep_side_effects(config.side_effects)
    split = make_split(benchmark, config)
    training_drugs = np.setdiff1d(np.arange(len(benchmark.drugs)), split.held_out_drugs)

    smiles = [drug.smiles for drug in benchmark.drugs]
    raw = np.stack([raw_descriptors(s, DESCRIPTOR_NAMES) for s in smiles])
    scaler = DescriptorScaler.fit(raw[training_drugs], config.features)
    bits, descriptors = featurise(smiles, scaler, config.features)

    with_targets, profiles = random_walk_profiles(benchmark, config.profile)
    keep = np.isin(with_targets, training_drugs)
    drugs, profiles = with_targets[keep], profiles[keep]
    mean, scale = profiles.mean(axis=0), profiles.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return Prepared(
        benchmark=benchmark,
        split=split,
        bits=bits,
        descriptors=descriptors,
        scaler=scaler,
        profile_drugs=drugs,
        profile_targets=((profiles - mean) / scale).astype(np.float32),
        identity=np.where(
            np.isin(np.arange(len(benchmark.drugs)), training_drugs),
            np.arange(1, len(benchmark.drugs) + 1),
            0,
        ),
        records=training_reports(benchmark, split),
    )


def build_model(config: TrainConfig, prepared: Prepared) -> DDIModel:
    torch.manual_seed(config.seed)
    return DDIModel(
        bits=prepared.bits.shape[1],
        descriptors=prepared.descriptors.shape[1],
        genes=prepared.profile_targets.shape[1],
        side_effects=len(prepared.benchmark.side_effects),
        known_drugs=len(prepared.benchmark.drugs),
        profile=config.profile,
        pair=config.pair,
    )
