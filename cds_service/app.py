"""The app factory: `create_app(settings)` loads what the service runs on (drug index,
knowledge, models, caches, audit trail, token verifier), wires the core to HTTP and registers
the web layer's blueprints (`cds_service.web`). Settings are passed in (tests) or read from the
environment (`ddi-cds serve`); `create_production_app` is gunicorn's entry point.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, abort, g, request
from flask.json.provider import DefaultJSONProvider

from cds_service.adapters.fhir_client import client_factory
from cds_service.adapters.interaction_model import InteractionModel
from cds_service.adapters.prediction_cache import (
    PredictionCache,
    integrity_key,
    request_path_client,
)
from cds_service.adapters.repeat_cards import ShownPairs
from cds_service.adapters.secret_keys import (
    AUDIT_KEY_FILE,
    AUDIT_KEY_VARIABLE,
    PSEUDONYM_KEY_FILE,
    PSEUDONYM_KEY_VARIABLE,
    AuditSetupError,
    Pseudonyms,
    load_key,
)
from cds_service.adapters.site_overrides import load_site_overrides
from cds_service.config import Settings
from cds_service.core.drug_index import DrugIndex
from cds_service.core.knowledge import default_knowledge_base
from cds_service.core.mapping import MedicationMapper
from cds_service.core.predictions import PredictionPolicy
from cds_service.core.source_selection import select_sources
from cds_service.operations.audit import AuditTrail
from cds_service.operations.feedback import FeedbackStore
from cds_service.operations.logs import REQUEST_ID_HEADER, request_id_for
from cds_service.protocol.auth import TokenVerifier, token_verifier
from cds_service.protocol.engine import CdsEngine, FhirClientFactory
from cds_service.web import explain, health, hooks, metrics, openapi, try_it
from cds_service.web.errors import register_error_handlers
from cds_service.web.open_limits import OpenLimits
from cds_service.web.pages import register_pages
from cds_service.web.runtime import EXTENSION, Runtime, runtime

if TYPE_CHECKING:
    from cds_service.adapters.model_predictions import ModelPredictions

REPLAY_CHECK_TIMEOUT_S = 0.25
CORS_PATHS = ("/cds-services",)
CORS_METHODS = "GET, POST, OPTIONS"
METRICS_PORT_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
CORS_HEADERS = "Authorization, Content-Type"


class _InsertionOrderJson(DefaultJSONProvider):
    """Keys in the order the code writes them: a card reads summary, then detail, then links."""

    sort_keys = False


def create_app(
    settings: Settings | None = None, fhir_client_factory: FhirClientFactory | None = None
) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(
        "cds_service",
        instance_relative_config=True,
        template_folder="web/templates",  # the pages for people (cds_service.web.pages)
        static_folder="web/static",
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = _InsertionOrderJson(app)
    data_dir = data_dir_of(settings)
    index = DrugIndex()
    knowledge = select_sources(default_knowledge_base(), settings.knowledge_sources)
    keys = service_keys(settings)
    # What Redis returns is authenticated (cds_service.adapters.prediction_cache.RedisMac) with a
    # key of
    # its own or one derived from the pseudonym key, which every replica shares already
    redis_mac_key = integrity_key(settings.cache_key, keys[0] or b"")
    cache = PredictionCache(
        settings.redis_url or None,
        key=redis_mac_key,
        ca_file=settings.redis_ca_file,
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
            key=redis_mac_key,
            ca_file=settings.redis_ca_file,
            timeout_s=settings.redis_timeout_s,
            ttl_s=settings.suppress_repeat_ttl_s,
        )
        if settings.suppress_repeat_cards and settings.redis_url
        else None
    )
    # One cache for both models: their keys carry different versions, their values sizes
    interactions = InteractionModel.load(cache=cache) if settings.model_enabled else None
    if interactions is not None and settings.production:
        interactions.warm()
    engine = CdsEngine(
        MedicationMapper(index),
        knowledge,
        settings,
        fhir_client_factory or client_factory(settings),
        predictions=predictions,
        shown_pairs=shown_pairs,
        overrides=(
            load_site_overrides(settings.overrides_file, index, knowledge)
            if settings.overrides_file
            else None
        ),
        interaction_model=interactions,
    )
    app.extensions[EXTENSION] = Runtime(
        settings,
        index,
        knowledge,
        engine,
        FeedbackStore(data_dir / "feedback.sqlite"),
        cache,
        predictions.version if predictions else None,
        None if settings.auth_disabled else _token_verifier(settings),
        open_audit_trail(settings, keys=keys),
        interactions,
        predictions,
    )

    app.register_blueprint(hooks.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(explain.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(try_it.blueprint)
    register_pages(app)
    register_error_handlers(app)
    OpenLimits.install(app, settings)
    app.after_request(_cors)
    app.before_request(_request_id)
    app.before_request(_metrics_port_split)
    app.before_request(_preflight)
    return app


def create_production_app() -> Flask:
    """The app as `ddi-cds serve --production` makes it, for a plain gunicorn command line
    (deploy/gunicorn.conf.py): production defaults and the keys it requires."""
    return create_app(replace(Settings.from_env(), production=True))


def data_dir_of(settings: Settings) -> Path:
    """Where feedback and the audit trail live: the setting, else the app's instance folder."""
    return settings.data_dir or Path(Flask("cds_service").instance_path)


def service_keys(settings: Settings, *, read_only: bool = False) -> tuple[bytes | None, ...]:
    """The pseudonym key and the audit-chain key. Under `serve --production` both must come
    from the environment (a secret): a key kept on the data volume goes with every copy of it,
    and with it a patient's pseudonym is found by hashing guessed ids, and an edited trail's
    chain recomputed. In development each is made once in the data folder (0600). Read only
    (`ddi-cds audit`), no key is made: one that is missing is needed only by what uses it."""
    data_dir = data_dir_of(settings)
    keys = []
    for configured, variable, file_name in (
        (settings.pseudonym_key, PSEUDONYM_KEY_VARIABLE, PSEUDONYM_KEY_FILE),
        (settings.audit_key, AUDIT_KEY_VARIABLE, AUDIT_KEY_FILE),
    ):
        if settings.production and not configured:
            raise AuditSetupError(f"{variable} is required with --production (from a secret)")
        create = not (read_only or settings.production)
        keys.append(load_key(configured, variable, data_dir / file_name, create=create))
    return tuple(keys)


def open_audit_trail(
    settings: Settings,
    *,
    read_only: bool = False,
    keys: tuple[bytes | None, ...] | None = None,
) -> AuditTrail:
    """The data folder's trail with its two keys (`service_keys`; `keys` when already read)."""
    pseudonym, chain = keys or service_keys(settings, read_only=read_only)
    return AuditTrail(
        data_dir_of(settings) / "audit.sqlite",
        Pseudonyms(pseudonym) if pseudonym else None,
        chain,
        read_only=read_only,
        head_every=settings.audit_head_every,
    )


def _token_verifier(settings: Settings) -> TokenVerifier:
    """Raises ValueError when the token settings cannot be served safely (issuers without
    DDI_CDS_PUBLIC_BASE_URL): the service does not start."""
    # A longer wait than the cache's: a replay check that times out under load refuses a
    # feedback call (503), where a cache lookup that times out only costs a model call
    timeout_s = max(settings.redis_timeout_s, REPLAY_CHECK_TIMEOUT_S)
    client = request_path_client(settings.redis_url, timeout_s, settings.redis_ca_file)
    return token_verifier(settings, client if settings.redis_url else None)


def _model_predictions(settings: Settings, cache: PredictionCache) -> ModelPredictions:
    # Imported here: torch and RDKit load only when the model is on.
    from cds_service.adapters.model_predictions import ModelPredictions, load_predictor

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


def _request_id() -> None:
    g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))


def _metrics_port_split() -> None:
    """With a metrics port, /metrics is answered there only, and that port answers nothing but
    /metrics and the probes: what Prometheus reads stays off the port the EHRs (and the
    internet in front of them) reach. The port is the listening socket's, not the Host
    header's (gunicorn and werkzeug both set SERVER_PORT from the socket)."""
    port = runtime().settings.metrics_port_in_use
    if port is None:
        return
    on_metrics_port = request.environ.get("SERVER_PORT") == str(port)
    if on_metrics_port and request.path not in METRICS_PORT_PATHS:
        abort(404)
    if not on_metrics_port and request.path == "/metrics":
        abort(404)


def _preflight() -> Response | None:
    if request.method == "OPTIONS" and request.path.startswith(CORS_PATHS):
        return Response(status=204)
    return None


def _cors(response: Response) -> Response:
    """CORS on the CDS Hooks endpoints only, which the spec requires (an EHR's web client
    calls them from the browser); the pages and /explain are same-origin and get none."""
    if not request.path.startswith(CORS_PATHS):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response
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
