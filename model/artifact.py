"""The built model on disk: weights as a plain `.npz`, everything else as JSON. No pickle.

Layout of an artifact directory:
- `weights.npz`: the network's tensors and the training pairs' report-record codes in float16,
  the per-side-effect calibration and descriptor scaling in float32, integer index arrays as
  int32. Loaded, every float is float32: float16 is only how they are stored (half the size;
  the scores move by less than 0.002, measured in the model card);
- `model.json`: version, training config, vocabularies (drugs with SMILES, side effects with
  seriousness tier, landmark genes with symbols), descriptor scaling, provenance and licences;
- `metrics.json` (optional): what `ddi-cds evaluate` measured, per split.

The version is a hash of the tensors and of `model.json` without its version field, so a card
that quotes "model deside-3f2a…" names exactly these numbers, and a changed file fails to load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.config import TrainConfig

PACKAGED = Path(__file__).resolve().parent / "artifact"
WEIGHTS, META, METRICS = "weights.npz", "model.json", "metrics.json"
NON_NETWORK_PREFIXES = ("calibration.", "descriptors.", "records.")
KEPT_FLOAT32_PREFIXES = ("calibration.", "descriptors.")  # few numbers, read as they are


def stored(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors as `weights.npz` holds them (see the module's notes); casting a loaded
    artifact back gives the same bytes, so its hash is unchanged."""

    def kind(name: str, value: np.ndarray) -> type:
        if value.dtype.kind in "iu":
            return np.int32
        return np.float32 if name.startswith(KEPT_FLOAT32_PREFIXES) else np.float16

    return {k: np.asarray(v, dtype=kind(k, v)) for k, v in tensors.items()}


# `records.index[a, b]`: the row of the pair's code in `records.code`, or one of these.
RECORD_EMPTY = -1  # a training pair with nothing reported: its record is all zeros
RECORD_NONE = -2  # no record: not a training pair, or a drug the model was not trained on


class ArtifactError(RuntimeError):
    """A missing, incomplete or altered model artifact."""


@dataclass
class Artifact:
    config: TrainConfig
    tensors: dict[str, np.ndarray]  # network state + "calibration.slope"/"calibration.intercept"
    drugs: list[dict[str, Any]]  # stitch_id, name, pubchem_cid, smiles
    side_effects: list[dict[str, Any]]  # cui, name, tier, tier_reason
    genes: list[dict[str, Any]]  # entrez, symbol
    descriptor_names: list[str]
    provenance: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str = ""

    def meta(self) -> dict[str, Any]:
        return {
            "config": json.loads(self.config.to_json()),
            "drugs": self.drugs,
            "side_effects": self.side_effects,
            "genes": self.genes,
            "descriptor_names": self.descriptor_names,
            "provenance": self.provenance,
        }

    def network_state(self) -> dict[str, torch.Tensor]:
        """The tensors `DDIModel.load_state_dict` takes (not calibration or scaling)."""
        return {
            name: torch.from_numpy(value)
            for name, value in self.tensors.items()
            if not name.startswith(NON_NETWORK_PREFIXES)
        }

    def content_hash(self) -> str:
        return _content_hash(stored(self.tensors), self.meta())

    def save(self, directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        self.version = self.content_hash()
        # numpy's stub reads **arrays as if it could set allow_pickle.
        np.savez_compressed(directory / WEIGHTS, **stored(self.tensors))  # type: ignore[arg-type]
        meta = {"version": self.version, **self.meta()}
        (directory / META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        if self.metrics:
            write_metrics(directory, self.metrics)
        return self.version


def write_metrics(directory: Path, metrics: dict[str, Any]) -> None:
    (directory / METRICS).write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")


def _content_hash(tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """Of the tensors as the file holds them: an artifact saved in an earlier storage form
    (float32) still verifies, and can be repacked."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(meta, sort_keys=True).encode())
    return "deside-" + digest.hexdigest()[:12]


def _computed_as(value: np.ndarray) -> np.ndarray:
    return value.astype(np.float32) if value.dtype == np.float16 else value


def load_artifact(directory: Path | None = None, verify: bool = True) -> Artifact:
    directory = Path(directory) if directory else PACKAGED
    try:
        meta = json.loads((directory / META).read_text())
        with np.load(directory / WEIGHTS, allow_pickle=False) as archive:
            as_stored = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, KeyError) as error:
        raise ArtifactError(f"cannot read the model artifact in {directory}: {error}") from error
    metrics_path = directory / METRICS
    artifact = Artifact(
        config=TrainConfig.from_dict(meta["config"]),
        # float16 is a storage form only: the model computes in float32
        tensors={name: _computed_as(value) for name, value in as_stored.items()},
        drugs=meta["drugs"],
        side_effects=meta["side_effects"],
        genes=meta["genes"],
        descriptor_names=meta["descriptor_names"],
        provenance=meta["provenance"],
        metrics=json.loads(metrics_path.read_text()) if metrics_path.exists() else {},
        version=meta["version"],
    )
    if verify and _content_hash(as_stored, artifact.meta()) != artifact.version:
        raise ArtifactError(
            f"model artifact in {directory} does not match its version {artifact.version}"
        )
    return artifact
