"""Adapter: the clinical head (`model.clinical.inference`) as the service asks it: for two
ingredients, the predicted interaction (whether, how severe, by what mechanism, the similar known
pairs it leans on), or why it cannot say. The artifact is read on the first question (about half
a second), not at start-up; answers are kept per pair in a bounded in-process cache; a pair
costs about a millisecond to score."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any

from cds_service.medication import Ingredient
from cds_service.predictions import PredictedInteraction, SimilarKnownPair

log = logging.getLogger(__name__)
# model/ sits beside cds_service/ (in the checkout and in site-packages); read without importing
# it, so that an app that never asks the model pays nothing for it (rdkit, torch)
PACKAGED = Path(__file__).resolve().parent.parent / "model" / "artifact" / "clinical"
META = "clinical.json"
CACHE_ENTRIES = 10_000
# Pairs described in full (mechanism, similar known pairs) per call, the likeliest first: more
# than the cards show (the rest are listed by name on one card)
DESCRIBED = 10


class InteractionModel:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        meta = json.loads((directory / META).read_text())
        self._card_threshold = float(meta["card_threshold"]["probability_major"])
        self._predictor: Any = None
        self._failure = ""
        self._answers: OrderedDict[tuple[str, str], tuple[dict[str, Any] | None, str]] = (
            OrderedDict()
        )
        self._lock = Lock()

    @classmethod
    def load(cls, directory: Path | None = None) -> InteractionModel | None:
        """For the packaged artifact (or `directory`); None, logged, when there is none."""
        where = directory or PACKAGED
        if not (where / META).exists():
            log.warning("interaction model not available: no %s in %s", META, where)
            return None
        return cls(where)

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
        """The core's question (`cds_service.predictions.InteractionPredictionSource`): which
        pairs reach the card threshold, scored in one batch; only those are described."""
        predictor = self._loaded()
        if predictor is None:
            return {}
        known = [
            (i, a.rxcui, b.rxcui)
            for i, (a, b) in enumerate(pairs)
            if predictor.knows(a.rxcui) and predictor.knows(b.rxcui)
        ]
        major = predictor.probabilities_major([(a, b) for _, a, b in known])
        worthy = sorted(
            ((p, i) for (i, _, _), p in zip(known, major.tolist(), strict=True)
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
            answer = (predictor.predict(a.rxcui, b.rxcui).as_json(), "")
        with self._lock:
            self._answers[key] = answer
            if len(self._answers) > CACHE_ENTRIES:
                self._answers.popitem(last=False)
        return answer


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
