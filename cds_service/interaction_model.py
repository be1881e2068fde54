"""Adapter: the clinical head (`model.clinical.inference`) as the service asks it: for two
ingredients, the predicted interaction (whether, how severe, by what mechanism, the similar known
pairs it leans on), or why it cannot say. The artifact is read on the first question (about half
a second), not at start-up; answers are kept per pair in a bounded in-process cache; a pair
costs about a millisecond to score."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
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
                from model.clinical.artifact import ClinicalArtifactError
                from model.clinical.inference import ClinicalPredictor

                try:
                    self._predictor = ClinicalPredictor.load(self._directory)
                except ClinicalArtifactError as error:
                    log.error("interaction model not loaded: %s", error)
                    self._failure = "the interaction model's artifact could not be read"
            return self._predictor

    @property
    def card_threshold(self) -> float:
        return self._card_threshold

    def predicted_interaction(self, a: Ingredient, b: Ingredient) -> PredictedInteraction | None:
        """The core's view (`cds_service.predictions.InteractionPredictionSource`)."""
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
