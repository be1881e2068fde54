"""The adapter between the clinical core and the DDI model (`model.inference.Predictor`).

An ingredient (RxNorm, with a structure from the drug index) is matched to the model's drug
vocabulary by InChIKey, then by the InChIKey's connectivity block (salts and stereo drawn
differently), then by name; an ingredient that matches none but has a structure is scored from
its structure alone; one without a structure is not scored and the card says so. Predictions
go through `PredictionCache`; only pairs that make a card are explained (genes). Scoring and
explaining stop at the deadline they are given; what was left undone is reported, not hidden.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, RDLogger

from cds_service.adapters.prediction_cache import PredictionCache, as_cached, cache_key
from cds_service.core.codes import normalize_name
from cds_service.core.deadline import Deadline
from cds_service.core.medication import Ingredient
from cds_service.core.prediction_cards import CAUTION
from cds_service.core.predictions import (
    TIER_ORDER,
    DriverGene,
    ModelDrug,
    PairKey,
    PairPrediction,
    PredictedEffect,
    PredictionBatch,
    PredictionPolicy,
    pair_key,
)
from cds_service.operations import metrics
from model.drug_alone import MIN_EXCESS
from model.features import StructureError
from model.inference import Predictor

log = logging.getLogger("cds_service.model")
STRUCTURE_ONLY = "structure"
DRIVER_GENES = 5
_EXPLAINED_ENTRIES = 2048
# A pair to score: each drug as the predictor takes it and as matched, and its cache key.
_Scored = tuple[tuple[str, ModelDrug], tuple[str, ModelDrug], str]
_PAIRS_PER_CHUNK = 64  # scored between deadline checks: about 40 ms of one core
_loaded: dict[Path | None, Predictor] = {}
_loading = threading.Lock()


SERIOUS_TIERS = frozenset({"life-threatening", "serious"})


def _published_accuracy(metrics: dict[str, Any]) -> dict[str, Any]:
    """Macro test figures of the committed model, per split, as the model card quotes them."""
    out = {}
    for split, measured in metrics.items():
        for partition, figures in measured.get("partitions", {}).items():
            macro = figures.get("macro", {})
            out[f"{split}/{partition}"] = {
                k: round(macro[k], 3) for k in ("auroc", "aupr") if k in macro
            }
    return out


def _explained_by(effect: int, explained: np.ndarray | None, names: tuple[str, str]) -> str | None:
    """Which drug explains the effect alone ("unknown" for a drug outside training), or None
    when the pair scores above both drugs' own rates: an interaction signal."""
    if explained is None:
        return "unknown: a drug outside the model's training"
    alone = [name for name, row in zip(names, explained, strict=True) if row[effect]]
    return " and ".join(alone) or None


def load_predictor(artifact_dir: Path | None = None) -> Predictor:
    """One `Predictor` per artifact per process (gunicorn preloads it before forking)."""
    with _loading:
        if artifact_dir not in _loaded:
            _loaded[artifact_dir] = Predictor(artifact_dir)
        return _loaded[artifact_dir]


@dataclass(frozen=True, slots=True)
class NotScored:
    """Why the side-effect model does not score an ingredient (no structure, unreadable)."""

    reason: str


_DrugTable = dict[str, tuple[str, str]]  # key → (STITCH id, name)


@functools.lru_cache(maxsize=4)
def _training_drug_tables(predictor: Predictor) -> tuple[_DrugTable, _DrugTable, _DrugTable]:
    """The model's training drugs by InChIKey, by its connectivity block and by name: worked
    out once per loaded model (a few hundred InChIKeys, about half a second), not per app."""
    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]  # not in rdkit's stubs
    by_inchikey: _DrugTable = {}
    by_skeleton: _DrugTable = {}
    by_name: _DrugTable = {}
    for drug in predictor.artifact.drugs:
        entry = (drug["stitch_id"], drug["name"])
        by_name.setdefault(normalize_name(drug["name"]), entry)
        mol = Chem.MolFromSmiles(drug["smiles"] or "")
        if mol is not None:
            inchikey = Chem.MolToInchiKey(mol)
            by_inchikey.setdefault(inchikey, entry)
            by_skeleton.setdefault(inchikey[:14], entry)
    return by_inchikey, by_skeleton, by_name


class ModelDrugMatcher:
    """Ingredient → (the key the predictor takes, how it was matched), or why not."""

    def __init__(self, predictor: Predictor) -> None:
        self._by_inchikey, self._by_skeleton, self._by_name = _training_drug_tables(predictor)

    def match(self, ingredient: Ingredient) -> tuple[str, ModelDrug] | NotScored:
        inchikey = (ingredient.inchikey or "").removeprefix("InChIKey=")
        for table, how in (
            (self._by_inchikey, inchikey),
            (self._by_skeleton, inchikey[:14]),
        ):
            if how and how in table:
                stitch_id, name = table[how]
                label = "InChIKey" if table is self._by_inchikey else "InChIKey connectivity"
                return stitch_id, ModelDrug(stitch_id, name, label)
        by_name = self._by_name.get(normalize_name(ingredient.name))
        if by_name:
            return by_name[0], ModelDrug(by_name[0], by_name[1], "name")
        if ingredient.smiles:
            return ingredient.smiles, ModelDrug(
                STRUCTURE_ONLY, ingredient.name, "structure only (not one of the trained drugs)"
            )
        return NotScored("no chemical structure in the drug index (e.g. a biologic or a mixture)")


class ModelPredictions:
    """`PredictionSource` over the committed model and the cache."""

    def __init__(
        self, predictor: Predictor, cache: PredictionCache, policy: PredictionPolicy
    ) -> None:
        self.predictor = predictor
        self.cache = cache
        self.policy = policy
        self.version = predictor.version
        self._matcher = ModelDrugMatcher(predictor)
        shown = policy.card_tiers | policy.context_tiers
        self._candidate = np.array([tier in shown for tier in predictor.tiers])
        self._floor = min(policy.card_threshold, policy.context_threshold)
        self._explained: OrderedDict[tuple[str, int], tuple[tuple[DriverGene, ...], bool]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def explain(
        self, a: Ingredient, b: Ingredient, side_effect: str | None = None
    ) -> dict[str, Any]:
        """Why the model scores this pair as it does, for the explanation endpoint: both drugs
        as the model knows them, its top side effects, the genes behind one of them, and the
        model's published accuracy. Raises `LookupError` with a reason when it cannot."""
        matched = []
        for ingredient in (a, b):
            found = self._matcher.match(ingredient)
            if isinstance(found, NotScored):
                raise LookupError(f"{ingredient.name} is not scored by the model: {found.reason}")
            matched.append(found)
        (key_a, drug_a), (key_b, drug_b) = matched
        try:
            probabilities = self.predictor.predict([(key_a, key_b)])[0]
        except StructureError as error:
            raise LookupError(str(error)) from None
        effects = self.predictor.side_effects
        if side_effect is not None and side_effect not in effects:
            raise LookupError(f"no side effect {side_effect[:80]!r} in the model's vocabulary")
        index = effects.index(side_effect) if side_effect else None
        explained = self._explained_alone(probabilities, (key_a, key_b))
        if index is None:  # the most serious, likeliest effect the policy would name, one
            # neither drug explains alone where there is one
            signal = range(len(effects)) if explained is None else np.flatnonzero(~explained.any(0))
            shown = self.policy.select(self._effects(probabilities, signal)) or self.policy.select(
                self._effects(probabilities, range(len(effects)))
            )
            index = effects.index(shown[0].name) if shown else int(np.argmax(probabilities))
        why = self.predictor.explain((key_a, key_b), index, genes=10, effects=10)
        metrics = self.predictor.artifact.metrics or {}
        tiers = self.predictor.tiers
        return {
            "modelVersion": self.version,
            "drugs": [
                {"rxcui": i.rxcui, "name": i.name, "modelDrug": d.key, "modelName": d.name,
                 "matchedBy": d.matched_by}
                for i, d in ((a, drug_a), (b, drug_b))
            ],
            "sideEffect": {"name": why.side_effect, "tier": self.predictor.tiers[index],
                           "probability": why.probability},
            "topSideEffects": [
                {"name": name, "tier": tier, "probability": p}
                for name, tier, p in why.top_side_effects
            ],
            # What a clinician looks for first: life-threatening before serious, then the
            # likelier (warfarin + ibuprofen: a bleed before neuropathy or cellulitis)
            # Each marked when one drug explains it alone (model.drug_alone): never a signal
            "seriousSideEffects": [
                {"name": effects[i], "tier": tiers[i], "probability": float(probabilities[i]),
                 "explainedBy": _explained_by(i, explained, (drug_a.name, drug_b.name))}
                for i in sorted(
                    (i for i in range(len(effects)) if tiers[i] in SERIOUS_TIERS),
                    key=lambda i: (TIER_ORDER[tiers[i]], -probabilities[i]),
                )
            ][:10],
            "genes": [
                {"entrez": g.entrez, "symbol": g.symbol, "contribution": g.contribution,
                 "gateA": g.gate_a, "gateB": g.gate_b}
                for g in why.genes
            ],
            "reportRecordLogit": why.record_logit,
            "accuracy": _published_accuracy(metrics),
            "caution": CAUTION,
        }  # fmt: skip

    def predict_pairs(
        self,
        pairs: Sequence[tuple[Ingredient, Ingredient]],
        deadline: Deadline | None = None,
        explain: Collection[PairKey] = frozenset(),
    ) -> PredictionBatch:
        deadline = deadline or Deadline.unlimited()
        matched: dict[str, tuple[str, ModelDrug]] = {}
        not_scored: dict[str, tuple[Ingredient, str]] = {}
        late: set[str] = set()  # no time left to build their state: cached pairs only
        for ingredient in {i.rxcui: i for pair in pairs for i in pair}.values():
            found = self._matcher.match(ingredient)
            if not isinstance(found, NotScored) and deadline.expired():
                late.add(ingredient.rxcui)
            elif not isinstance(found, NotScored):
                try:
                    self.predictor.drug_state(found[0])  # cached: the pair scoring reuses it
                except StructureError as error:
                    found = NotScored(f"its structure cannot be read ({error})")
            if isinstance(found, NotScored):
                not_scored[ingredient.rxcui] = (ingredient, found.reason)
            else:
                matched[ingredient.rxcui] = found
        scorable = [(a, b) for a, b in pairs if a.rxcui in matched and b.rxcui in matched]
        keys = {
            pair_key(a, b): (matched[a.rxcui], matched[b.rxcui], self._key(a, b, matched))
            for a, b in scorable
        }
        computable = {keys[pair_key(a, b)][2] for a, b in scorable if not {a.rxcui, b.rxcui} & late}
        probabilities = self._probabilities(keys, computable, deadline)
        results: dict[PairKey, PairPrediction] = {}
        out_of_time: dict[PairKey, tuple[Ingredient, Ingredient]] = {}
        for a, b in scorable:
            key = pair_key(a, b)
            if key in results or key in out_of_time:
                continue
            (model_a, drug_a), (model_b, drug_b), cached_as = keys[key]
            if cached_as not in probabilities:
                out_of_time[key] = (a, b)
                continue
            prediction = self._prediction(
                probabilities[cached_as],
                (model_a, model_b),
                (drug_a, drug_b),
                cached_as,
                deadline,
                shown_with_curated=key in explain,
            )
            if prediction is not None:
                results[key] = prediction
        return PredictionBatch(
            self.version, results, not_scored, out_of_time=tuple(out_of_time.values())
        )

    def _key(self, a: Ingredient, b: Ingredient, matched: dict[str, tuple[str, ModelDrug]]) -> str:
        def short(model_key: str) -> str:  # a SMILES is hashed so the key stays short
            if model_key.startswith("CID"):
                return model_key
            return "smiles-" + hashlib.sha256(model_key.encode()).hexdigest()[:20]

        return cache_key(self.version, short(matched[a.rxcui][0]), short(matched[b.rxcui][0]))

    def _probabilities(
        self, keys: Mapping[PairKey, _Scored], computable: set[str], deadline: Deadline
    ) -> dict[str, np.ndarray]:
        """Cached values, then the model in chunks until the deadline (only `computable` pairs:
        those whose drugs' states were built in time): a pair list too long for the time left
        is scored in part rather than making the EHR wait."""
        wanted = {cached_as: (a[0], b[0]) for a, b, cached_as in keys.values()}
        size = len(self.predictor.side_effects)
        found = {k: v for k, v in self.cache.get_many(list(wanted)).items() if v.shape == (size,)}
        # absent, or not this model's shape
        missing = [k for k in wanted if k not in found and k in computable]
        computed: dict[str, np.ndarray] = {}
        started = time.perf_counter()
        for start in range(0, len(missing), _PAIRS_PER_CHUNK):
            if deadline.expired():
                break
            chunk = missing[start : start + _PAIRS_PER_CHUNK]
            computed.update(
                zip(chunk, self.predictor.predict([wanted[k] for k in chunk]), strict=True)
            )
        if computed:
            metrics.MODEL_SECONDS.observe(time.perf_counter() - started)
            metrics.MODEL_PAIRS.inc(len(computed))
            self.cache.put_many(computed)
            # As the cache will give them back: a card must not depend on whether the pair was
            # cached (a probability at a threshold would otherwise flip with the cache's state)
            found.update({k: as_cached(v) for k, v in computed.items()})
        return found

    def _prediction(
        self,
        probabilities: np.ndarray,
        model_keys: tuple[str, str],
        drugs: tuple[ModelDrug, ModelDrug],
        cached_as: str,
        deadline: Deadline,
        shown_with_curated: bool,
    ) -> PairPrediction | None:
        """Genes are worked out (by `deadline`) only for a pair a card will show: beside curated
        evidence, or on a card of its own. Any other costs a gradient, milliseconds a pair, for
        nothing."""
        explained = self._explained_alone(probabilities, model_keys)
        if explained is None:  # a drug outside training: no signal can be told an interaction
            return None
        candidates = np.flatnonzero(
            self._candidate & (probabilities >= self._floor) & ~explained.any(axis=0)
        )
        effects = self.policy.select(self._effects(probabilities, candidates))
        if not effects:
            return None
        unexplained = PairPrediction(self.version, effects, drugs[0], drugs[1], explained=False)
        if not shown_with_curated and not self.policy.warrants_card(unexplained):
            return unexplained
        top = self.predictor.side_effects.index(effects[0].name)
        explanation = self._explain(model_keys, top, cached_as, deadline)
        if explanation is None:
            return unexplained
        genes, from_record = explanation
        return PairPrediction(self.version, effects, drugs[0], drugs[1], genes, from_record)

    def _explained_alone(
        self, probabilities: np.ndarray, model_keys: tuple[str, str]
    ) -> np.ndarray | None:
        """(2, side effects): where the pair scores less than `MIN_EXCESS` above what each drug
        scores with any partner (model.drug_alone), that drug explains the effect alone; None
        when either drug is outside training."""
        rates = [self.predictor.alone_rates(key) for key in model_keys]
        if rates[0] is None or rates[1] is None:
            return None
        return np.stack([probabilities - r < MIN_EXCESS for r in rates])

    def _effects(self, probabilities: np.ndarray, indices: Iterable[int]) -> list[PredictedEffect]:
        names, tiers, rules = (
            self.predictor.side_effects,
            self.predictor.tiers,
            self.predictor.tier_rules,
        )
        return [
            PredictedEffect(names[k], tiers[k], float(probabilities[k]), rules[k]) for k in indices
        ]

    def _explain(
        self, model_keys: tuple[str, str], effect: int, cached_as: str, deadline: Deadline
    ) -> tuple[tuple[DriverGene, ...], bool] | None:
        """The driving genes and whether the report record contributed; None when the deadline
        has passed and they are not known already."""
        with self._lock:
            if (cached_as, effect) in self._explained:
                return self._explained[(cached_as, effect)]
        if deadline.expired():
            return None
        why = self.predictor.explain(model_keys, effect, genes=DRIVER_GENES, effects=1)
        value = (
            tuple(DriverGene(g.entrez, g.symbol) for g in why.genes),
            why.record_logit is not None,
        )
        with self._lock:
            self._explained[(cached_as, effect)] = value
            while len(self._explained) > _EXPLAINED_ENTRIES:
                self._explained.popitem(last=False)
        return value
