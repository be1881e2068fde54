"""The served clinical head: for two ingredients (RxCUI), whether they interact, how severely,
by what mechanism, and the known pairs the prediction leans on. Loaded once from the artifact;
thread-safe for reading (the network is in eval mode, no state changes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.clinical.artifact import PACKAGED, ClinicalArtifact, load
from model.clinical.blend import VoteBlend
from model.clinical.config import NetworkConfig
from model.clinical.neighbours import QUESTIONS, NeighbourVotes
from model.clinical.network import ClinicalNetwork

# Columns of `ClinicalPredictor.scores`: the four calibrated outputs, then the mechanism
MAJOR, MECHANISM = 2, 4
SCORES = 6


@dataclass(frozen=True)
class SimilarKnown:
    a: str  # ingredient names
    b: str
    a_rxcui: str
    b_rxcui: str
    grade: str
    source: str  # the curated sources that list the known pair, "|"-joined


@dataclass(frozen=True)
class PredictedInteraction:
    probability: float  # P(some source would list the pair), calibrated
    probability_major: float  # P(major or contraindicated), calibrated
    grade: str  # "none", "minor", "moderate" or "major": the likeliest reading
    mechanism: str  # the likeliest DrugBank interaction type, as a sentence about the pair
    mechanism_probability: float
    similar_known: tuple[SimilarKnown, ...]
    model_version: str

    def as_json(self) -> dict[str, Any]:
        return {
            "probability": round(float(self.probability), 4),
            "probability_major": round(float(self.probability_major), 4),
            "grade": self.grade,
            "mechanism": self.mechanism,
            "mechanism_probability": round(float(self.mechanism_probability), 4),
            "similar_known": [
                {
                    "a": s.a,
                    "b": s.b,
                    "a_rxcui": s.a_rxcui,
                    "b_rxcui": s.b_rxcui,
                    "grade": s.grade,
                    "source": s.source,
                }
                for s in self.similar_known
            ],
            "model": self.model_version,
        }


class ClinicalPredictor:
    def __init__(self, artifact: ClinicalArtifact) -> None:
        self.artifact = artifact
        table = artifact.table
        self.rows = table.index()
        mean, scale = artifact.tensors["profile.mean"], artifact.tensors["profile.scale"]
        profile = np.where(table.has[:, 3:4], (table.profile - mean) / scale, 0.0)
        blocks = [table.fingerprint, table.proteins, table.atc, profile]
        self.blocks = [torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)) for b in blocks]
        self.has = torch.from_numpy(table.has.astype(np.float32))
        config = NetworkConfig(**artifact.meta["config"]["network"])
        self.network = ClinicalNetwork(
            [b.shape[1] for b in self.blocks],
            len(artifact.meta["mechanisms"]),
            config,
            votes=QUESTIONS if config.neighbour_votes else 0,
        )
        state = {
            k: torch.from_numpy(v)
            for k, v in artifact.tensors.items()
            if not k.startswith("profile.")
        }
        self.network.load_state_dict(state)
        self.network.eval()
        bits = np.concatenate([table.fingerprint, table.proteins, table.atc], axis=1)
        self.votes = NeighbourVotes.fit(bits, artifact.known_pairs, artifact.known_grade)
        self.use_votes = config.neighbour_votes
        self._embeddings: torch.Tensor | None = None
        self.known_sources = {
            (min(c, d), max(c, d)): str(source)
            for (c, d), source in zip(
                artifact.known_pairs.tolist(), artifact.known_sources, strict=True
            )
        }
        outputs = artifact.meta["outputs"]
        self.blend = VoteBlend.from_json([artifact.meta["calibration"][o] for o in outputs])
        # Pairs of two drugs with known pairs have a blend of their own (model.clinical.export)
        known_drugs = artifact.meta.get("calibration_known_drugs")
        self.known_drugs_blend = (
            VoteBlend.from_json([known_drugs[o] for o in outputs]) if known_drugs else self.blend
        )

    @classmethod
    def load(cls, directory: Path = PACKAGED) -> ClinicalPredictor:
        return cls(load(directory))

    @property
    def version(self) -> str:
        return self.artifact.version

    def knows(self, rxcui: str) -> bool:
        """The drug has a representation (a structure or known proteins)."""
        return rxcui in self.rows

    def predict(self, rxcui_a: str, rxcui_b: str) -> PredictedInteraction:
        """For two ingredients the model knows (`knows`); KeyError otherwise."""
        return self.describe(rxcui_a, rxcui_b, self.scores([(rxcui_a, rxcui_b)])[0])

    def scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """(N, SCORES) for many pairs of known ingredients at once: the calibrated P(listed),
        P(moderate or worse), P(major or worse), P(major among interacting), the likeliest
        mechanism's index and its probability. Drugs are encoded once per process, so a
        thousand pairs take milliseconds; the network is symmetric in its two drugs."""
        if not pairs:
            return np.zeros((0, SCORES), dtype=np.float32)
        rows = np.array([[self.rows[a], self.rows[b]] for a, b in pairs], dtype=np.int64)
        votes = self.votes(rows) if self.use_votes else np.zeros((len(rows), 0), np.float32)
        with torch.no_grad():
            if self._embeddings is None:
                self._embeddings = self.network.encoder(self.blocks, self.has)
            index = torch.from_numpy(rows)
            grade_logits, mechanism_logits = self.network.pair_logits(
                self._embeddings[index[:, 0]],
                self._embeddings[index[:, 1]],
                torch.from_numpy(votes),
            )
            mechanism = torch.softmax(mechanism_logits, dim=1).max(dim=1)
        out = np.empty((len(rows), SCORES), dtype=np.float32)
        if self.use_votes:  # the vote blend (model.clinical.blend)
            partner = self.votes.partner(rows)
        else:
            votes = partner = np.zeros((len(rows), QUESTIONS), np.float32)
        logits = grade_logits.numpy()
        both_known = np.asarray(self.votes.has_known[rows].all(axis=1))
        out[:, :MECHANISM] = np.where(
            both_known[:, None],
            self.known_drugs_blend(logits, votes, partner),
            self.blend(logits, votes, partner),
        )
        # Each output is calibrated on its own; major ⊂ moderate-or-worse ⊂ listed, so a
        # pair is never shown likelier to be major than to interact at all
        out[:, 1] = np.maximum(out[:, 1], out[:, MAJOR])
        out[:, 0] = np.maximum(out[:, 0], out[:, 1])
        out[:, MECHANISM] = mechanism.indices.numpy()
        out[:, MECHANISM + 1] = mechanism.values.numpy()
        return out

    def probabilities_major(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Calibrated P(major or worse) of many pairs (`scores`)."""
        return self.scores(pairs)[:, MAJOR]

    def describe(self, rxcui_a: str, rxcui_b: str, scores: np.ndarray) -> PredictedInteraction:
        """The prediction from the pair's `scores` row (computed now, or as a cache kept them),
        with the known pairs it leans on."""
        p = [float(v) for v in scores[:MECHANISM]]
        kind = round(float(scores[MECHANISM]))
        return PredictedInteraction(
            probability=p[0],
            probability_major=p[MAJOR],
            grade=_likeliest_grade(p),
            mechanism=_sentence(self.artifact.meta["mechanisms"][kind]),
            mechanism_probability=float(scores[MECHANISM + 1]),
            similar_known=tuple(self._similar(self.rows[rxcui_a], self.rows[rxcui_b])),
            model_version=self.version,
        )

    def _similar(self, a: int, b: int) -> list[SimilarKnown]:
        table = self.artifact.table
        out = []
        for c, d, _ in self.votes.similar_known(a, b):
            out.append(
                SimilarKnown(
                    table.names[c],
                    table.names[d],
                    table.rxcuis[c],
                    table.rxcuis[d],
                    "major or contraindicated",
                    self.known_sources.get((min(c, d), max(c, d)), ""),
                )
            )
        return out


def _likeliest_grade(p: list[float]) -> str:
    if p[0] < 0.5:
        return "none"
    if p[2] >= 0.5:
        return "major"
    return "moderate" if p[1] >= 0.5 else "minor"


def _sentence(template: str) -> str:
    """DrugBank's template names its two drugs DRUG; the pair's order is not known, so the
    sentence speaks of one drug and the other."""
    text = template.replace("DRUG", "one drug", 1).replace("DRUG", "the other", 1)
    return text[:1].upper() + text[1:]
