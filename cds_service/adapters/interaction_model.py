"""Adapter: the clinical head (`model.clinical.inference`) as the service asks it: for two
ingredients, the predicted interaction (whether, how severe, by what mechanism, the similar known
pairs it leans on), or why it cannot say. The artifact is read on the first question (about half
a second) or when a production worker warms it, not at start-up.

Each pair's scores (four calibrated probabilities and the mechanism) are cached like the
side-effect model's: in-process, then Redis, under keys that carry the model's version (a new
artifact never reads an old one's entries), with the same integrity tag and fallback when Redis
is down. A card never depends on whether a score was cached: computed scores are used as the
cache returns them (float16)."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from cds_service.adapters.prediction_cache import PredictionCache, as_cached, cache_key
from cds_service.core.medication import Ingredient
from cds_service.core.predictions import PredictedInteraction, SimilarKnownPair

log = logging.getLogger(__name__)
# model/ sits beside cds_service/ (in the checkout and in site-packages); read without importing
# it, so that an app that never asks the model pays nothing for it (rdkit, torch)
PACKAGED = Path(__file__).resolve().parents[2] / "model" / "artifact" / "clinical"
META = "clinical.json"
CACHE_ENTRIES = 10_000
# Pairs described in full (mechanism, similar known pairs) per call, the likeliest first: more
# than the cards show (the rest are listed by name on one card)
DESCRIBED = 10


SCORES = 6  # columns of ClinicalPredictor.scores (model.clinical.inference)
MAJOR = 2


class InteractionModel:
    def __init__(self, directory: Path, cache: PredictionCache | None = None) -> None:
        self._directory = directory
        self._cache = cache
        meta = json.loads((directory / META).read_text())
        self._card_threshold = float(meta["card_threshold"]["probability_major"])
        self._predictor: Any = None
        self._failure = ""
        self._answers: OrderedDict[tuple[str, str], tuple[dict[str, Any] | None, str]] = (
            OrderedDict()
        )
        self._lock = Lock()

    @classmethod
    def load(
        cls, directory: Path | None = None, cache: PredictionCache | None = None
    ) -> InteractionModel | None:
        """For the packaged artifact (or `directory`); None, logged, when there is none.
        `cache`: where scores are kept (None: computed every time)."""
        where = directory or PACKAGED
        if not (where / META).exists():
            log.warning("interaction model not available: no %s in %s", META, where)
            return None
        return cls(where, cache)

    def _loaded(self) -> Any:
        with self._lock:
            if self._predictor is None and not self._failure:
                self._predictor = _shared_predictor(self._directory)
                if self._predictor is None:
                    self._failure = "the interaction model's artifact could not be read"
            return self._predictor

    def warm(self) -> None:
        """Load the artifact now (a production worker, before its first call) rather than on
        the first question (about half a second)."""
        self._loaded()

    def card_worthy(
        self, pairs: Sequence[tuple[Ingredient, Ingredient]]
    ) -> dict[int, PredictedInteraction]:
        """The core's question (`cds_service.core.predictions.InteractionPredictionSource`): which
        pairs reach the card threshold, scored in one batch; only those are described."""
        predictor = self._loaded()
        if predictor is None:
            return {}
        known = [
            (i, a.rxcui, b.rxcui)
            for i, (a, b) in enumerate(pairs)
            if predictor.knows(a.rxcui) and predictor.knows(b.rxcui)
        ]
        scores = self._scores(predictor, [(a, b) for _, a, b in known])
        worthy = sorted(
            ((p, i) for (i, _, _), p in zip(known, scores[:, MAJOR].tolist(), strict=True)
             if p >= self._card_threshold),
            reverse=True,
        )  # fmt: skip
        out = {}
        for rank, (probability, i) in enumerate(worthy):
            described = self.predicted_interaction(*pairs[i]) if rank < DESCRIBED else None
            out[i] = described or PredictedInteraction(
                probability=float("nan"),
                probability_major=probability,
                grade="major",
                mechanism="",
                similar_known=(),
                model_version=self._version(),
            )
        return out

    def _version(self) -> str:
        predictor = self._loaded()
        return str(predictor.version) if predictor is not None else ""

    def predicted_interaction(self, a: Ingredient, b: Ingredient) -> PredictedInteraction | None:
        """The prediction as a value of the core (None when a drug is unknown to the model)."""
        answer, _ = self.predict(a, b)
        if answer is None:
            return None
        return PredictedInteraction(
            probability=answer["probability"],
            probability_major=answer["probability_major"],
            grade=answer["grade"],
            mechanism=answer["mechanism"],
            similar_known=tuple(
                SimilarKnownPair(k["a"], k["b"], k["source"]) for k in answer["similar_known"]
            ),
            model_version=answer["model"],
        )

    def predict(self, a: Ingredient, b: Ingredient) -> tuple[dict[str, Any] | None, str]:
        """(the prediction as JSON, "") or (None, why the model cannot describe the pair)."""
        key = (a.rxcui, b.rxcui)
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        predictor = self._loaded()
        if predictor is None:
            return None, self._failure
        unknown = [i.name for i in (a, b) if not predictor.knows(i.rxcui)]
        if unknown:
            answer: tuple[dict[str, Any] | None, str] = (
                None,
                f"{' and '.join(unknown)}: no chemical structure or known target, enzyme or "
                "transporter in the drug index, so the interaction model cannot describe it",
            )
        else:
            (scores,) = self._scores(predictor, [(a.rxcui, b.rxcui)])
            answer = (predictor.describe(a.rxcui, b.rxcui, scores).as_json(), "")
        with self._lock:
            self._answers[key] = answer
            if len(self._answers) > CACHE_ENTRIES:
                self._answers.popitem(last=False)
        return answer

    def _scores(self, predictor: Any, pairs: list[tuple[str, str]]) -> np.ndarray:
        """(N, SCORES): from the cache where it has them, the rest computed in one batch and
        cached; every row as the cache gives it back."""
        if not pairs:
            return np.zeros((0, SCORES), dtype=np.float32)
        keys = [cache_key(predictor.version, a, b) for a, b in pairs]
        found = {}
        if self._cache is not None:
            found = {k: v for k, v in self._cache.get_many(keys).items() if v.shape == (SCORES,)}
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            by_key = dict(zip(keys, pairs, strict=True))
            computed = predictor.scores([by_key[k] for k in missing])
            fresh = dict(zip(missing, computed, strict=True))
            if self._cache is not None:
                self._cache.put_many(fresh)
            found.update({k: as_cached(v) for k, v in fresh.items()})
        return np.stack([found[k] for k in keys])


_PREDICTORS: dict[Path, Any] = {}  # one loaded artifact per folder and process: read-only
_PREDICTORS_LOCK = Lock()


def _shared_predictor(directory: Path) -> Any:
    with _PREDICTORS_LOCK:
        if directory not in _PREDICTORS:
            from model.clinical.artifact import ClinicalArtifactError
            from model.clinical.inference import ClinicalPredictor

            try:
                _PREDICTORS[directory] = ClinicalPredictor.load(directory)
            except ClinicalArtifactError as error:
                log.error("interaction model not loaded: %s", error)
                return None
        return _PREDICTORS[directory]
