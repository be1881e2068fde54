"""The Flask application: `create_app(settings)` wires the core to HTTP.

Blueprints: `hooks` (CDS Hooks discovery, hook calls, feedback) and `health` (/healthz,
/readyz). Settings are passed in (tests) or read from the environment (`ddi-cds serve`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, g, request

from cds_service import __version__
from cds_service.audit import AuditTrail, Pseudonyms, pseudonym_key
from cds_service.auth import JtiStore, JwksCache, TokenVerifier, load_trusted_issuers
from cds_service.config import Settings
from cds_service.drug_index import DrugIndex
from cds_service.engine import CdsEngine, FhirClientFactory
from cds_service.feedback import FeedbackStore
from cds_service.knowledge import KnowledgeBase
from cds_service.logs import REQUEST_ID_HEADER, request_id_for
from cds_service.mapping import MedicationMapper
from cds_service.prediction_cache import PredictionCache, request_path_client
from cds_service.predictions import PredictionPolicy
from cds_service.repeat_cards import ShownPairs
from cds_service.site_overrides import load_site_overrides
from cds_service.web.errors import register_error_handlers

if TYPE_CHECKING:
    from cds_service.model_predictions import ModelPredictions

CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the request handlers share: loaded once per process."""

    settings: Settings
    index: DrugIndex
    knowledge: KnowledgeBase
    engine: CdsEngine
    feedback: FeedbackStore
    cache: PredictionCache
    model_version: str | None  # None: the model is switched off
    verifier: TokenVerifier | None  # None: tokens not required (--no-auth)
    audit: AuditTrail

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


def create_app(
    settings: Settings | None = None, fhir_client_factory: FhirClientFactory | None = None
) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(
        __name__.split(".")[0],
        instance_relative_config=True,
        template_folder="web/templates",  # the pages for people (cds_service.web.pages)
        static_folder="web/static",
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    data_dir = data_dir_of(settings)
    index = DrugIndex()
    knowledge = KnowledgeBase()
    cache = PredictionCache(
        settings.redis_url or None,
        timeout_s=settings.redis_timeout_s,
        ttl_s=settings.cache_ttl_s,
        local_entries=settings.cache_local_entries,
        breaker_failures=settings.redis_breaker_failures,
        breaker_cooldown_s=settings.redis_breaker_cooldown_s,
    )
    predictions = _model_predictions(settings, cache) if settings.model_enabled else None
    shown_pairs = (
        ShownPairs(
            settings.redis_url,
            timeout_s=settings.redis_timeout_s,
            ttl_s=settings.suppress_repeat_ttl_s,
        )
        if settings.suppress_repeat_cards and settings.redis_url
        else None
    )
    engine = CdsEngine(
        MedicationMapper(index),
        knowledge,
        settings,
        fhir_client_factory,
        predictions=predictions,
        shown_pairs=shown_pairs,
        overrides=(
            load_site_overrides(settings.overrides_file, index, knowledge)
            if settings.overrides_file
            else None
        ),
    )
    app.extensions["ddi_cds"] = Runtime(
        settings,
        index,
        knowledge,
        engine,
        FeedbackStore(data_dir / "feedback.sqlite"),
        cache,
        predictions.version if predictions else None,
        None if settings.auth_disabled else _token_verifier(settings),
        open_audit_trail(settings),
    )

    from cds_service.web import explain, health, hooks, metrics, openapi, try_it
    from cds_service.web.pages import register_pages

    app.register_blueprint(hooks.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(explain.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(try_it.blueprint)
    register_pages(app)
    register_error_handlers(app)
    app.after_request(_cors)
    app.before_request(_request_id)
    app.before_request(_preflight)
    return app


def data_dir_of(settings: Settings) -> Path:
    """Where feedback and the audit trail live: the setting, else the app's instance folder."""
    return settings.data_dir or Path(Flask(__name__.split(".")[0]).instance_path)


def open_audit_trail(settings: Settings) -> AuditTrail:
    data_dir = data_dir_of(settings)
    key = pseudonym_key(settings.pseudonym_key, data_dir / "pseudonym.key")
    return AuditTrail(data_dir / "audit.sqlite", Pseudonyms(key))


def _token_verifier(settings: Settings) -> TokenVerifier:
    log = logging.getLogger("cds_service.web")
    issuers = (
        load_trusted_issuers(settings.trusted_issuers_file) if settings.trusted_issuers_file else []
    )
    if not issuers:
        log.warning(
            "no trusted EHR issuers configured (DDI_CDS_TRUSTED_ISSUERS_FILE): every hook and "
            "feedback call will be refused with 401; for local development use --no-auth"
        )
    client = request_path_client(settings.redis_url, settings.redis_timeout_s)
    return TokenVerifier(
        issuers,
        JwksCache(),  # a fetch on the request path is cut to the call's deadline
        JtiStore(client if settings.redis_url else None),
        leeway_s=settings.auth_leeway_s,
    )


def _model_predictions(settings: Settings, cache: PredictionCache) -> ModelPredictions:
    # Imported here: torch and RDKit load only when the model is on.
    from cds_service.model_predictions import ModelPredictions, load_predictor

    return ModelPredictions(load_predictor(settings.model_dir), cache, prediction_policy(settings))


def prediction_policy(settings: Settings) -> PredictionPolicy:
    def tiers(text: str) -> frozenset[str]:
        return frozenset(t.strip() for t in text.split(",") if t.strip())

    return PredictionPolicy(
        card_threshold=settings.prediction_card_threshold,
        card_tiers=tiers(settings.prediction_card_tiers),
        context_threshold=settings.prediction_context_threshold,
        context_tiers=tiers(settings.prediction_context_tiers),
        max_effects=settings.prediction_max_effects,
        own_cards=settings.prediction_own_cards,
    )


def runtime() -> Runtime:
    return current_app.extensions["ddi_cds"]


def _request_id() -> None:
    g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))


def _preflight() -> Response | None:
    if request.method == "OPTIONS":
        return Response(status=204)
    return None


def _cors(response: Response) -> Response:
    allowed = runtime().settings.cors_allow_origin
    origin = request.headers.get("Origin")
    if allowed == "*":
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in {o.strip() for o in allowed.split(",")}:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Access-Control-Expose-Headers"] = REQUEST_ID_HEADER
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response
