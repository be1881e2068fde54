"""Serving the DDI model: calibrated side-effect probabilities for drug pairs, and why.

    predictor = Predictor()                       # the committed artifact, loaded once
    probabilities = predictor.predict([("CID000003392", "CID000003672")])   # (1, 963)
    why = predictor.explain(("CID000003392", "CID000003672"), "gastrointestinal hemorrhage")

A drug is a TWOSIDES/STITCH id of the 645 training drugs or any SMILES string. A SMILES that is
one of the 645 (same canonical form) is that drug. A new structure is scored from its structure
alone: the learnt per-drug memory exists only for training drugs, and `DrugState.known` says
which path a score took. A pair of two training drugs also has its report-record term (what
TWOSIDES reported for the pair in training, as a code); `Explanation.record_logit` says how much
of a score came from it. Per-drug work (features, stage-1 profile, gate halves) is cached, so
a 20-medication list costs 20 profiles and 190 cheap pair evaluations.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from model import drug_alone
from model.artifact import PACKAGED, RECORD_NONE, Artifact, load_artifact
from model.calibration import PlattCalibration
from model.features import DescriptorScaler, StructureError, featurise
from model.network import DDIModel

CACHE_SIZE = 4096


@dataclass(frozen=True)
class DrugState:
    """A drug as the pair model sees it; computed once per drug."""

    key: str
    row: int  # index among the training drugs (learnt memory, report records); -1: not one
    profile: torch.Tensor  # (978,) stage-1 gene profile
    own: torch.Tensor  # (978,) its half of its own gate
    given: torch.Tensor  # (978,) its half of its partner's gate
    memory: torch.Tensor  # (embedding,) zero for a drug not seen in training

    @property
    def known(self) -> bool:
        return self.row >= 0


@dataclass(frozen=True)
class _PairBatch:
    """Per pair: each drug's stage-1 profile, gate halves, memory and training-drug row."""

    profile_a: torch.Tensor
    own_a: torch.Tensor
    given_a: torch.Tensor
    memory_a: torch.Tensor
    row_a: np.ndarray
    profile_b: torch.Tensor
    own_b: torch.Tensor
    given_b: torch.Tensor
    memory_b: torch.Tensor
    row_b: np.ndarray


@dataclass(frozen=True)
class GeneContribution:
    entrez: int
    symbol: str
    contribution: float  # to the side effect's logit (gradient × gated profile), both drugs
    gate_a: float
    gate_b: float


@dataclass(frozen=True)
class Explanation:
    side_effect: str
    probability: float
    genes: list[GeneContribution]
    top_side_effects: list[tuple[str, str, float]]  # (name, tier, probability)
    # The pair's report-record term in this side effect's logit (the genes explain the rest);
    # None when the pair has no record (a drug outside training, or a held-out pair).
    record_logit: float | None


def _tier_rule(reason: str) -> str:
    """ "... [rule lt.gi-bleed]" → "lt.gi-bleed" (model/seriousness.py writes the reasons)."""
    found = re.search(r"\[rule ([\w.-]+)\]\s*$", reason)
    return found.group(1) if found else ""


class Predictor:
    """The committed model, loaded once; thread-safe; no network and no pickle."""

    def __init__(self, artifact_dir: Path | None = None, artifact: Artifact | None = None) -> None:
        self.artifact = artifact or load_artifact(artifact_dir)
        config = self.artifact.config
        tensors = self.artifact.tensors
        self.version = self.artifact.version
        self.side_effects = [s["name"] for s in self.artifact.side_effects]
        self.tiers = [s["tier"] for s in self.artifact.side_effects]
        # The seriousness rule behind each tier ("lt.gi-bleed"): it groups effects by kind
        self.tier_rules = [_tier_rule(s.get("tier_reason", "")) for s in self.artifact.side_effects]
        self._effect_index = {name: k for k, name in enumerate(self.side_effects)}
        self.genes = [(int(g["entrez"]), str(g["symbol"])) for g in self.artifact.genes]
        self.scaler = DescriptorScaler(
            tuple(self.artifact.descriptor_names),
            tensors["descriptors.mean"].astype(np.float64),
            tensors["descriptors.scale"].astype(np.float64),
            config.features.descriptor_clip,
        )
        self.calibration = PlattCalibration(
            tensors["calibration.slope"], tensors["calibration.intercept"]
        )
        self.model = DDIModel(
            bits=config.features.fingerprint_bits,
            descriptors=len(self.scaler.names),
            genes=len(self.genes),
            side_effects=len(self.side_effects),
            known_drugs=len(self.artifact.drugs),
            profile=config.profile,
            pair=config.pair,
        )
        self.model.load_state_dict(self.artifact.network_state())
        self.model.eval()
        self._record_index = tensors["records.index"]
        with torch.no_grad():
            empty = self.model.record_code(torch.zeros(1, len(self.side_effects)))
        self._record_codes = torch.cat([torch.from_numpy(tensors["records.code"]), empty])
        held_out = set(self.artifact.provenance.get("held_out_drugs", []))
        self._known: dict[str, tuple[int, str]] = {}  # stitch id → (memory row, smiles)
        self._by_structure: dict[str, str] = {}  # canonical smiles → stitch id
        for row, drug in enumerate(self.artifact.drugs, start=1):
            memory_row = 0 if drug["stitch_id"] in held_out else row
            self._known[drug["stitch_id"]] = (memory_row, drug["smiles"])
            self._by_structure[_canonical(drug["smiles"])] = drug["stitch_id"]
        self._cache: OrderedDict[str, DrugState] = OrderedDict()
        self._lock = threading.Lock()
        # Each training drug's rates with any partner (model.drug_alone); None: not built
        self._alone = drug_alone.load(Path(artifact_dir or PACKAGED), self.version)
        self._alone_row = {d["stitch_id"]: i for i, d in enumerate(self.artifact.drugs)}

    def alone_rates(self, drug: str) -> np.ndarray | None:
        """What a training drug (STITCH id, or a SMILES of one) is reported with whatever its
        partner, per side effect; None for a drug outside training (or no drug_alone file):
        what such a drug brings alone cannot be told apart from an interaction."""
        if self._alone is None:
            return None
        try:
            stitch_id = drug if drug in self._known else self._by_structure.get(_canonical(drug))
        except StructureError:
            return None
        row = self._alone_row.get(stitch_id) if stitch_id else None
        return None if row is None else self._alone[row]

    def knows(self, drug: str) -> bool:
        return drug in self._known

    def drug_state(self, drug: str) -> DrugState:
        """The cached state of a STITCH id or a SMILES; raises StructureError for bad SMILES."""
        with self._lock:
            if drug in self._cache:
                self._cache.move_to_end(drug)
                return self._cache[drug]
        state = self._compute_state(drug)
        with self._lock:
            self._cache[drug] = state
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return state

    @torch.no_grad()
    def _compute_state(self, drug: str) -> DrugState:
        stitch_id = drug if drug in self._known else self._by_structure.get(_canonical(drug))
        memory_row, smiles = self._known[stitch_id] if stitch_id else (0, drug)
        bits, descriptors = featurise([smiles], self.scaler, self.artifact.config.features)
        profile = self.model.profile_net(torch.from_numpy(bits), torch.from_numpy(descriptors))
        own, given = self.model.pair_net.drug_state(profile)
        memory = self.model.drug_memory(torch.tensor([memory_row]))
        return DrugState(drug, memory_row - 1, profile[0], own[0], given[0], memory[0])

    @torch.no_grad()
    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Uncalibrated scores (pairs × side effects)."""
        if not pairs:
            return np.zeros((0, len(self.side_effects)), dtype=np.float32)
        batch = self._batch(pairs)
        logits, _ = self._score(batch, *self._gated(batch))
        return logits.numpy()

    def _score(
        self, batch: _PairBatch, gated_a: torch.Tensor, gated_b: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, the report-record term in them) from the pairs' gated gene profiles."""
        embed = self.model.pair_net.embed
        network = self.model.pair_net.score(
            embed(gated_a) + batch.memory_a, embed(gated_b) + batch.memory_b
        )
        record_term = self.model.record_logits(*self._records(batch))
        return network + record_term, record_term

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Calibrated probabilities (pairs × side effects), in `self.side_effects` order."""
        return self.calibration(self.logits(pairs))

    def _batch(self, pairs: Sequence[tuple[str, str]]) -> _PairBatch:
        """The pairs' drug states, stacked once per distinct drug and gathered per pair: a
        20-medication list stacks 20 states, not 380."""
        keys = list(dict.fromkeys(drug for pair in pairs for drug in pair))
        states = [self.drug_state(key) for key in keys]
        position = {key: i for i, key in enumerate(keys)}
        a = torch.tensor([position[x] for x, _ in pairs])
        b = torch.tensor([position[y] for _, y in pairs])
        profile = torch.stack([s.profile for s in states])
        own = torch.stack([s.own for s in states])
        given = torch.stack([s.given for s in states])
        memory = torch.stack([s.memory for s in states])
        rows = np.array([s.row for s in states])
        return _PairBatch(
            profile[a], own[a], given[a], memory[a], rows[a.numpy()],
            profile[b], own[b], given[b], memory[b], rows[b.numpy()],
        )  # fmt: skip

    def _gated(self, batch: _PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.pair_net.gated(
            batch.profile_a, (batch.own_a, batch.given_a),
            batch.profile_b, (batch.own_b, batch.given_b),
        )  # fmt: skip

    def _records(self, batch: _PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Each pair's report-record code and whether it has a record at all."""
        both_known = (batch.row_a >= 0) & (batch.row_b >= 0)
        index = np.full(len(both_known), RECORD_NONE, dtype=np.int64)
        index[both_known] = self._record_index[batch.row_a[both_known], batch.row_b[both_known]]
        recorded = index != RECORD_NONE
        # RECORD_EMPTY (-1) and RECORD_NONE (-2, masked) both read the empty record's code.
        code_rows = np.where(index >= 0, index, len(self._record_codes) - 1)
        return self._record_codes[torch.from_numpy(code_rows)], torch.from_numpy(recorded)

    def explain(
        self, pair: tuple[str, str], side_effect: str | int, genes: int = 10, effects: int = 5
    ) -> Explanation:
        """The genes whose gated profile values push this side effect's score most, and the
        side effects this pair scores highest (gradient × input on the gated gene profiles)."""
        k = side_effect if isinstance(side_effect, int) else self._effect_index[side_effect]
        with torch.enable_grad():
            batch = self._batch([pair])
            gated_a, gated_b = (g.detach().requires_grad_() for g in self._gated(batch))
            logits, record_term = self._score(batch, gated_a, gated_b)
            logits[0, k].backward()
        has_record = bool(self._records(batch)[1][0])
        grad_a, grad_b = gated_a.grad, gated_b.grad
        if grad_a is None or grad_b is None:  # both are leaves that require grad: never
            raise RuntimeError("no gradient reached the gated profiles")
        contribution = (grad_a * gated_a + grad_b * gated_b)[0].detach()
        state_a, state_b = self.drug_state(pair[0]), self.drug_state(pair[1])
        gate_a = torch.sigmoid(state_a.own + state_b.given)
        gate_b = torch.sigmoid(state_b.own + state_a.given)
        top = torch.argsort(contribution.abs(), descending=True)[:genes].tolist()
        probabilities = self.calibration(logits.detach().numpy())[0]
        ranked = np.argsort(-probabilities, kind="stable")[:effects]
        return Explanation(
            side_effect=self.side_effects[k],
            probability=float(probabilities[k]),
            genes=[
                GeneContribution(
                    entrez, symbol, float(contribution[g]), float(gate_a[g]), float(gate_b[g])
                )
                for g in top
                for entrez, symbol in [self.genes[g]]
            ],
            top_side_effects=[
                (self.side_effects[i], self.tiers[i], float(probabilities[i])) for i in ranked
            ],
            record_logit=float(record_term[0, k].detach()) if has_record else None,
        )


@functools.lru_cache(maxsize=4096)  # asked per pair and per call for the same few drugs
def _canonical(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        if smiles.startswith("CID"):
            raise StructureError(f"{smiles!r} is not one of the model's drugs")
        raise StructureError(f"unreadable SMILES: {smiles[:80]!r}")
    return Chem.MolToSmiles(mol)
