"""What the request handlers share, loaded once per process by the app factory
(`cds_service.app.create_app`) and read through `runtime()`: blueprints import this module,
never the factory, so the web layer has no import cycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from cds_service import __version__
from cds_service.adapters.interaction_model import InteractionModel
from cds_service.adapters.prediction_cache import PredictionCache
from cds_service.adapters.secret_keys import Pseudonyms
from cds_service.config import Settings
from cds_service.core.drug_index import DrugIndex
from cds_service.core.knowledge import KnowledgeBase
from cds_service.core.source_selection import SelectedSources
from cds_service.operations.audit import AuditTrail
from cds_service.operations.feedback import FeedbackStore
from cds_service.protocol.auth import TokenVerifier
from cds_service.protocol.engine import CdsEngine

if TYPE_CHECKING:  # torch and RDKit load only when the model is on
    from cds_service.adapters.model_predictions import ModelPredictions

EXTENSION = "ddi_cds"  # the key under which the app keeps its Runtime


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the request handlers share: loaded once per process."""

    settings: Settings
    index: DrugIndex
    knowledge: KnowledgeBase | SelectedSources  # the site's choice of sources
    engine: CdsEngine
    feedback: FeedbackStore
    cache: PredictionCache
    model_version: str | None  # None: the model is switched off
    verifier: TokenVerifier | None  # None: tokens not required (--no-auth)
    audit: AuditTrail
    interactions: InteractionModel | None = None  # the clinical head; None: switched off
    # The side-effect model as /explain asks it (the engine sees only its PredictionSource)
    explanations: ModelPredictions | None = None

    @property
    def pseudonyms(self) -> Pseudonyms:
        return self.audit.pseudonyms

    def versions(self) -> dict[str, str | None]:
        """What decided a card, for the audit trail."""
        return {
            "service": __version__,
            "drugIndex": self.index.version,
            "knowledge": self.knowledge.version,
            "model": self.model_version,
        }


def runtime() -> Runtime:
    installed: Runtime = current_app.extensions[EXTENSION]
    return installed
