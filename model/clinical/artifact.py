"""The clinical head on disk, in plain formats (no pickle): `model/artifact/clinical/`.

- `drugs.npz`: the drug table (`drugs.DrugTable.save`: packed bits, float16 profiles);
- `weights.npz`: the network's tensors (float16) and the profile standardisation;
- `known.npz`: the training pairs (drug rows) with their grades and mechanism types, which the
  neighbour and partner votes and the "similar known pairs" read;
- `clinical.json`: version, config, mechanism sentences, calibration of each output (the vote
  blend, `blend.VoteBlend`, fitted on drug-disjoint validation pairs), the model-card
  threshold, validation figures, provenance.
The version is a hash of every file's content but the version field itself: a changed file is
a new version (new cache keys), and a file altered by hand fails to load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.clinical.drugs import DrugTable

PACKAGED = Path(__file__).resolve().parent.parent / "artifact" / "clinical"
FILES = ("drugs.npz", "weights.npz", "known.npz")
META = "clinical.json"


class ClinicalArtifactError(RuntimeError):
    """A missing, incomplete or altered clinical artifact."""


@dataclass
class ClinicalArtifact:
    table: DrugTable
    tensors: dict[str, np.ndarray]
    known_pairs: np.ndarray  # (K, 2) drug rows
    known_grade: np.ndarray  # (K,)
    known_mechanism: np.ndarray  # (K,)
    known_sources: np.ndarray  # (K,) str: the curated sources listing each pair, "|"-joined
    meta: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.meta.get("version", ""))


def _content_hash(directory: Path, meta: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for name in FILES:
        digest.update((directory / name).read_bytes())
    body = {k: v for k, v in meta.items() if k != "version"}
    digest.update(json.dumps(body, sort_keys=True).encode())
    return "clinical-" + digest.hexdigest()[:12]


def save(artifact: ClinicalArtifact, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    artifact.table.save(directory / "drugs.npz")
    weights = {
        k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in artifact.tensors.items()
    }
    # numpy's stub reads **arrays as if it could set allow_pickle.
    np.savez_compressed(directory / "weights.npz", **weights)  # type: ignore[arg-type]
    np.savez_compressed(
        directory / "known.npz",
        pairs=artifact.known_pairs.astype(np.int16),
        grade=artifact.known_grade.astype(np.int8),
        mechanism=artifact.known_mechanism.astype(np.int16),
        sources=artifact.known_sources.astype(str),
    )
    meta = dict(artifact.meta)
    meta["version"] = _content_hash(directory, meta)
    (directory / META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    artifact.meta = meta
    return meta["version"]


def load(directory: Path = PACKAGED) -> ClinicalArtifact:
    try:
        meta = json.loads((directory / META).read_text())
        table = DrugTable.load(directory / "drugs.npz")
        with np.load(directory / "weights.npz", allow_pickle=False) as weights:
            tensors = {k: weights[k].astype(np.float32) for k in weights.files}
        with np.load(directory / "known.npz", allow_pickle=False) as known:
            pairs, grade, mechanism, sources = (
                known["pairs"].astype(np.int64),
                known["grade"].astype(np.int8),
                known["mechanism"].astype(np.int16),
                known["sources"],
            )
    except (OSError, ValueError, KeyError) as error:
        raise ClinicalArtifactError(f"clinical model artifact in {directory}: {error}") from error
    if _content_hash(directory, meta) != meta.get("version"):
        raise ClinicalArtifactError(f"clinical model artifact in {directory} was altered")
    return ClinicalArtifact(table, tensors, pairs, grade, mechanism, sources, meta)


def _half(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float16) if values.dtype.kind == "f" else values
