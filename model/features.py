"""Structure featurisation: SMILES → ECFP4 bits + standardised RDKit descriptors (stage-1 input).

DeSIDE-DDI used 1,024 ECFP4 bits and 100 scaled Mordred descriptors. Mordred is unmaintained, so
the descriptors here are RDKit's own 2-D descriptors (fragment counts and the numerically unstable
`Ipc` left out), standardised with the training drugs' mean and deviation and clipped, so any new
structure lands on the same scale. The names, means and deviations travel in the artifact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from model.config import FeatureConfig

RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]  # not in rdkit's stubs

_EXCLUDED_PREFIXES = ("fr_",)
_EXCLUDED = {"Ipc"}
DESCRIPTOR_NAMES: tuple[str, ...] = tuple(
    name
    for name, _ in Descriptors.descList
    if not name.startswith(_EXCLUDED_PREFIXES) and name not in _EXCLUDED
)
_DESCRIPTOR_FUNCTIONS = dict(Descriptors.descList)


class StructureError(ValueError):
    """A SMILES string that RDKit cannot read."""


def molecule(smiles: str) -> Chem.Mol:
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        raise StructureError(f"unreadable SMILES: {smiles[:80]!r}")
    return mol


def fingerprint(smiles: str, config: FeatureConfig) -> np.ndarray:
    generator = rdFingerprintGenerator.GetMorganGenerator(
        radius=config.fingerprint_radius, fpSize=config.fingerprint_bits
    )
    return generator.GetFingerprintAsNumPy(molecule(smiles)).astype(np.float32)


def raw_descriptors(smiles: str, names: Sequence[str] = DESCRIPTOR_NAMES) -> np.ndarray:
    mol = molecule(smiles)
    values = []
    for name in names:
        try:
            value = float(_DESCRIPTOR_FUNCTIONS[name](mol))
        except (ValueError, ZeroDivisionError, OverflowError):
            value = math.nan
        values.append(value if math.isfinite(value) else math.nan)
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class DescriptorScaler:
    """Standardises descriptors with the training drugs' statistics; missing values become 0."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    clip: float

    @classmethod
    def fit(cls, raw: np.ndarray, config: FeatureConfig) -> DescriptorScaler:
        # Heavy-tailed counts are compressed first so one outlier does not set the scale.
        squashed = _signed_log(raw)
        mean = np.nanmean(squashed, axis=0)
        scale = np.nanstd(squashed, axis=0)
        scale[~np.isfinite(scale) | (scale < 1e-8)] = 1.0
        mean[~np.isfinite(mean)] = 0.0
        return cls(DESCRIPTOR_NAMES, mean, scale, config.descriptor_clip)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        scaled = (_signed_log(raw) - self.mean) / self.scale
        scaled = np.nan_to_num(scaled, nan=0.0)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def featurise(
    smiles: Sequence[str], scaler: DescriptorScaler, config: FeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(fingerprints, scaled descriptors) for a list of SMILES; raises StructureError."""
    bits = np.stack([fingerprint(s, config) for s in smiles])
    descriptors = scaler.transform(np.stack([raw_descriptors(s, scaler.names) for s in smiles]))
    return bits, descriptors
