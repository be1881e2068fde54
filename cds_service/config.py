"""Every setting of the service, its default, and the environment variable that changes it.

`Settings.from_env()` is what `ddi-cds serve` uses; tests build `Settings(...)` directly and pass
it to `create_app`, as the Flask tutorial passes its test configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cds_service.core.severity import DEFAULT_MIN_CARD_SEVERITY, Severity


class NoMedicationDataPolicy(StrEnum):
    """What to do when the current medications are neither prefetched nor fetchable."""

    CHECK_DRAFTS = "check-drafts"  # check the orders among themselves and say so on a card
    PRECONDITION_FAILED = "412"  # answer 412, as the spec allows


PRODUCTION_METRICS_PORT = 9464  # Prometheus' registered default for exporters
# Settings whose default is None ("decided by another setting"): the type read from a variable
OPTIONAL_TYPES: dict[str, type] = {"try_it_page": bool, "metrics_port": int}
CONVENTIONAL_NAMES = {"redis_url": "REDIS_URL"}  # read when the DDI_CDS_ variable is absent
# Never read from the environment: turning token checks off takes `ddi-cds serve --no-auth`,
# which refuses non-loopback addresses; a stray variable in a deployment must not do it.
# Likewise `production`, which `ddi-cds serve --production` sets: it tightens defaults and
# makes the start refuse without the secrets a deployment needs (docs/security.md).
NOT_FROM_ENVIRONMENT = frozenset({"auth_disabled", "production"})


@dataclass(frozen=True, slots=True)
class Settings:
    # Cards: the least severe grade that makes a card (contraindicated, major, moderate, minor;
    # the earlier names avoid, precaution, informational are still read)
    min_card_tier: Severity = DEFAULT_MIN_CARD_SEVERITY
    # A site's decisions on pairs, ingredients and classes (JSON or YAML; docs/knowledge.md):
    # checked at start-up, which stops with the file, line and reason when it is malformed
    overrides_file: Path | None = None
    # Where feedback and the audit trail are kept; None: the app's instance folder
    data_dir: Path | None = None
    # Key of the pseudonyms that stand for patient, user and encounter ids in the audit trail
    # and the logs (hex, at least 16 bytes; a secret). Empty: made once and kept in
    # <data_dir>/pseudonym.key, in development only (`serve --production` refuses to start
    # without it). Every worker and replica sharing a trail must share the key.
    pseudonym_key: str = ""
    # Stored data
    # Key of the audit trail's chain (hex, at least 16 bytes; a secret kept apart from the data
    # volume): each row's hash is an HMAC with it, so that a copy of the file cannot be edited
    # and its chain recomputed. Empty: as the pseudonym key (<data_dir>/audit.key, development
    # only). The trail remembers a check of its key and refuses another one.
    audit_key: str = ""
    # The chain's head (last row and hash) is logged and set on /metrics at start and at every
    # row whose number is a multiple of this, to be kept where the volume's holder cannot reach
    audit_head_every: int = 1000
    # Time: a hook call answers within `request_deadline_s` (EHRs give up at about 5 s) with what
    # it has checked by then; all FHIR reads of a call share `fhir_budget_s`, the model's scoring
    # and explaining `model_budget_s`; each ends early enough to leave time for the rest
    request_deadline_s: float = 2.0
    fhir_budget_s: float = 1.2
    model_budget_s: float = 0.6
    # Current medications
    no_medication_data: NoMedicationDataPolicy = NoMedicationDataPolicy.CHECK_DRAFTS
    fhir_connect_timeout_s: float = 1.0
    fhir_read_timeout_s: float = 2.0
    fhir_max_pages: int = 10  # Bundle pages followed per search
    # Request limits: what one call may cost, whatever it carries (docs/security.md). What a
    # limit leaves out is said on a card; a real prescribing session is far below each.
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    max_medications: int = 300  # draft and current medication resources read per request
    max_ingredients: int = 100  # distinct ingredients checked per call (the new orders' first)
    max_pairs: int = 5000  # ingredient pairs checked per call
    max_cards: int = 20  # interaction cards in full; the rest share one card, most severe first
    # `ddi-cds serve --production` (gunicorn): worker processes (0: one per core) and threads
    # in each (calls waiting on a FHIR server leave the core to the others)
    workers: int = 0
    threads: int = 4
    # Service log on stderr: "json" (one object a line, with the request id) or "text"
    log_format: str = "json"
    # Cross-origin callers (the spec requires CORS); "*" or a comma-separated list of origins
    cors_allow_origin: str = "*"
    # Cache (Redis is optional: the service answers without it)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = 0.05
    cache_ttl_s: int = 7 * 24 * 3600
    cache_local_entries: int = 10_000  # pair predictions kept in each process (2 kB each)
    redis_breaker_failures: int = 3  # consecutive Redis errors before it is left alone
    redis_breaker_cooldown_s: float = 5.0
    # Cache integrity: Redis decides what cards say, so each value kept there carries an
    # HMAC-SHA-256 bound to its key, and a value that fails it is ignored. Key: hex, at least 16
    # bytes, a secret; empty: derived from the pseudonym key, which every worker and replica
    # sharing the Redis already shares. `redis_ca_file`: the CA (PEM) that signed a rediss://
    # (TLS) Redis's certificate, when not one the system trusts.
    cache_key: str = ""
    redis_ca_file: Path | None = None
    # Optional (HL7 PDDI guide): a card shown at order-select is not repeated at order-sign for
    # the same clinician, patient, encounter and pair within this many seconds (needs Redis)
    suppress_repeat_cards: bool = False
    suppress_repeat_ttl_s: int = 900
    # The deep model's predictions (None: the committed artifact, model/artifact)
    model_enabled: bool = True
    model_dir: Path | None = None
    # A pair only the model flags gets a card when a side effect of these tiers (comma-separated)
    # reaches this calibrated probability; a pair the curated sources flag shows the model's
    # view at the lower context bar. See cds_service.core.predictions.PredictionPolicy.
    prediction_card_threshold: float = 0.9
    prediction_card_tiers: str = "life-threatening"
    prediction_context_threshold: float = 0.5
    prediction_context_tiers: str = "life-threatening,serious"
    prediction_max_effects: int = 3  # side effects named per predicted pair
    prediction_max_cards: int = 3  # model-only cards; the rest share one summary card
    # Model-only cards (a pair no curated source or rule flags) at all: off by default
    prediction_own_cards: bool = False
    # The clinical head (model/clinical): a pair no curated source or rule lists at all gets a
    # card when its P(major) passes the threshold chosen on validation for precision ≥ 0.8;
    # the card is info, or warning with interaction_model_warning
    interaction_model_cards: bool = True
    interaction_model_warning: bool = False
    # The curated sources this site uses, comma-separated ids (ANSM-2020, DDInter-1.0,
    # DDI-CDS-rules...); empty: all. See cds_service.core.source_selection.
    knowledge_sources: str = ""
    # EHR tokens (CDS Hooks 2.0 security): required on hook and feedback calls unless disabled
    # (`ddi-cds serve --no-auth`, loopback only). Issuers: a JSON list of
    # {"iss", "jwks_url" | "jwks_file", "jku_allowed": [...]}, see docs/service.md.
    auth_disabled: bool = False
    trusted_issuers_file: Path | None = None
    auth_leeway_s: float = 30.0
    # The service's public URL as EHRs call it; tokens' `aud` is checked against it plus the
    # endpoint's path, never against the request's Host header. Required when trusted issuers
    # are configured (the start refuses without it).
    public_base_url: str = ""
    # FHIR servers and tokens. Which FHIR servers a token's issuer may name is in the issuers
    # file ("fhir_servers"); they are read over https only, checked against the system's CAs or
    # this CA bundle (PEM; a hospital's internal CA). A token may live at most
    # `token_max_lifetime_s` (exp - iat), which also bounds how long its jti is remembered.
    fhir_ca_bundle_file: Path | None = None
    token_max_lifetime_s: float = 300.0
    # `ddi-cds serve --production` (never from the environment): the try-it page is off unless
    # switched on, and the start refuses without the pseudonym and audit keys from a secret
    production: bool = False
    # Pages for people: the try-it page at / (synthetic patient, no EHR token). It runs the
    # engine for anyone who can reach it, so it is off under --production unless switched on
    # (None: on in development, off in production) and, when on, takes at most
    # `try_it_max_entries` medications and `try_it_max_concurrent` checks at once per process.
    # The explanation page at /explain is always served.
    try_it_page: bool | None = None
    try_it_max_entries: int = 20
    try_it_max_concurrent: int = 2
    # Open endpoints (the try-it page's check, /explain, the autocomplete) answer at most
    # `open_requests_per_s` a second per process, in bursts of `open_burst` (429 beyond it);
    # the ingress limits each client before that (deploy/kubernetes/ingress.yaml)
    open_requests_per_s: float = 10.0
    open_burst: int = 20
    # /metrics on its own port (None: the service's port in development, 9464 in production);
    # that port answers /metrics, /healthz and /readyz only, and the service's port no /metrics
    metrics_port: int | None = None

    @property
    def try_it_enabled(self) -> bool:
        return self.try_it_page if self.try_it_page is not None else not self.production

    @property
    def metrics_port_in_use(self) -> int | None:
        """The port /metrics is served on, or None for the service's own port."""
        if self.metrics_port is not None:
            return self.metrics_port
        return PRODUCTION_METRICS_PORT if self.production else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `DDI_CDS_<FIELD>` variables (e.g. DDI_CDS_MIN_CARD_TIER=major); the Redis URL
        also from the conventional `REDIS_URL` (as container platforms set it) when
        `DDI_CDS_REDIS_URL` is not given."""
        environ = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        defaults = cls()
        for item in fields(cls):
            if item.name in NOT_FROM_ENVIRONMENT:
                continue
            raw = environ.get(f"DDI_CDS_{item.name.upper()}")
            if raw is None and item.name in CONVENTIONAL_NAMES:
                raw = environ.get(CONVENTIONAL_NAMES[item.name])
            if raw is None:
                continue
            default = getattr(defaults, item.name)
            if default is None and item.name in OPTIONAL_TYPES:
                default = OPTIONAL_TYPES[item.name]()  # False, 0: only their type is used
            changes[item.name] = _convert(item.name, raw, default)
        return replace(defaults, **changes)


def _convert(name: str, raw: str, default: object) -> object:
    try:
        if name.endswith(("_dir", "_file")):
            return Path(raw)
        if isinstance(default, bool):
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if isinstance(default, Severity):
            return Severity.parse(raw)
        if isinstance(default, StrEnum):
            return type(default)(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return raw
    except ValueError:
        raise ValueError(f"DDI_CDS_{name.upper()}={raw!r} is not a valid value") from None
