"""CDS Hooks endpoints: discovery, the hook call, feedback. Protocol only: the clinical work is
`CdsEngine.evaluate`. Every hook call past the token check, answered or refused, goes to the
audit trail; calls refused for their token are counted (`AuditTrail.note_unauthorized`)."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from cds_service.core.card_text import SERVICE_LABEL
from cds_service.core.deadline import Deadline, queued_seconds
from cds_service.core.prediction_cards import MODEL_LABEL
from cds_service.operations import metrics
from cds_service.operations.audit_record import HookCallRecord
from cds_service.operations.feedback import parse_feedback
from cds_service.protocol.auth import ReplayCheckUnavailable, TokenRejected
from cds_service.protocol.fhir_servers import FhirServerPolicy
from cds_service.protocol.hook_request import RequestError
from cds_service.protocol.services import SERVICES, ServiceDefinition, service_by_id
from cds_service.web.errors import operation_outcome, read_json_body
from cds_service.web.runtime import runtime

blueprint = Blueprint("hooks", __name__, url_prefix="/cds-services")
log = logging.getLogger("cds_service.hooks")


@blueprint.before_request
def require_token() -> Response | None:
    """Hook and feedback calls carry the EHR's JWT; discovery is open, as EHRs expect. The
    call's deadline starts here, so that fetching the EHR's keys counts against it, less the
    time the call waited in front of the service when a proxy says so (`X-Request-Start`).

    `aud` must be the configured public URL plus the path, never one built from the Host header
    the caller chose. The verified token's issuer decides which FHIR servers the call may read
    (`g.fhir_servers`, passed to the engine); under `--no-auth`, any https server or http on
    loopback. A feedback call whose replay check cannot be shared answers 503 (`JtiStore`)."""
    waited = queued_seconds(request.headers.get("X-Request-Start"), time.time())
    g.deadline = Deadline(max(0.0, runtime().settings.request_deadline_s - waited))
    g.started = time.perf_counter()
    verifier = runtime().verifier
    if verifier is None:
        g.fhir_servers = FhirServerPolicy(http_loopback=runtime().settings.auth_disabled)
        return None
    g.fhir_servers = FhirServerPolicy(frozenset())  # none, until a token's issuer names some
    if request.method != "POST":
        return None
    base = runtime().settings.public_base_url
    try:
        if not base:  # only without issuers: the start refuses issuers without it
            raise TokenRejected("no DDI_CDS_PUBLIC_BASE_URL to check the audience against")
        token = verifier.verify(
            request.headers.get("Authorization"),
            base.rstrip("/") + request.path,
            g.deadline,
            writes=request.endpoint == "hooks.feedback",
            one_process=request.environ.get("wsgi.multiprocess") is False,
        )
    except TokenRejected as why:
        log.warning("token refused on %s: %s", request.path[:120], why)
        response = operation_outcome(401, "unauthorized")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    except ReplayCheckUnavailable:
        response = operation_outcome(503, "replay check unavailable; resend later")
        response.headers["Retry-After"] = "5"
        return response
    g.verified_token = token
    g.fhir_servers = FhirServerPolicy.of_issuer(token.fhir_servers)
    return None


@blueprint.get("")
def discovery() -> Response:
    return jsonify({"services": [s.discovery_entry() for s in SERVICES]})


@blueprint.post("/<service_id>")
def call_hook(service_id: str) -> Response:
    service = _service(service_id)
    body = read_json_body(request, runtime().settings.max_json_depth)
    g.hook_body = body
    outcome = runtime().engine.evaluate(
        service,
        body,
        explain_url=url_for("explain.explain", _external=True),
        deadline=g.deadline,
        fhir_servers=g.get("fhir_servers"),
    )
    g.outcome = outcome
    log.info(
        "hook %s instance=%s patient=%s cards=%d notes=%d in %.1f ms",
        service.id,
        outcome.request.hook_instance[:64],
        runtime().pseudonyms.of(outcome.request.patient_id),
        len(outcome.response["cards"]),
        len(outcome.notes),
        (time.perf_counter() - g.started) * 1000,
    )
    return jsonify(outcome.response)


@blueprint.after_request
def audit_hook_call(response: Response) -> Response:
    """Runs for refusals and errors too (Flask calls it with the error handler's answer). A
    failure here is logged and counted, never turned into an error for the EHR. A 401 (hook or
    feedback) is counted, not stored: a row each, fsync'd on the lock real calls wait on, let
    anyone without a token fill the disk and slow every prescriber down."""
    if request.method == "POST" and response.status_code == 401:
        try:
            endpoint = "feedback" if request.endpoint == "hooks.feedback" else "hook"
            runtime().audit.note_unauthorized(endpoint)
        except Exception:
            log.exception("a refused call could not be counted")
    if request.method == "POST" and request.endpoint == "hooks.call_hook":
        if response.status_code != 401:
            try:
                runtime().audit.append_or_log(_audit_record(response))
            except Exception:
                runtime().audit.note_failure()
                log.exception("audit record could not be built")
        try:
            _measure(response)
        except Exception:
            log.exception("hook call could not be measured")
    return response


def _measure(response: Response) -> None:
    service = str((request.view_args or {}).get("service_id", ""))
    metrics.HOOK_SECONDS.labels(
        service if service_by_id(service) else "unknown", str(response.status_code)
    ).observe(time.perf_counter() - g.get("started", time.perf_counter()))
    outcome = g.get("outcome")
    if outcome is None or response.status_code != 200:
        return
    for card in outcome.response["cards"]:
        metrics.CARDS.labels(card.get("indicator", ""), _source_kind(card)).inc()
    if outcome.medications_missing:
        metrics.INCOMPLETE.labels("fhir").inc()
    result = outcome.result
    if result is not None and result.model is not None and result.model.out_of_time:
        metrics.INCOMPLETE.labels("model").inc()
    if result is not None and result.unmapped:
        metrics.UNMAPPED.inc(len(result.unmapped))


def _source_kind(card: dict[str, Any]) -> str:
    label = str((card.get("source") or {}).get("label", ""))
    if label.startswith(MODEL_LABEL):
        return "model"
    if label == SERVICE_LABEL:
        return "notice"
    return "curated"


def _audit_record(response: Response) -> HookCallRecord:
    outcome = g.get("outcome")
    body = g.get("hook_body")
    context = body.get("context") if isinstance(body, dict) else None
    answered = outcome is not None and response.status_code == 200
    return HookCallRecord(
        service_id=str((request.view_args or {}).get("service_id", ""))[:80],
        status=response.status_code,
        versions=runtime().versions(),
        hook_instance=_text(body, "hookInstance"),
        patient_id=_text(context, "patientId"),
        user_id=_text(context, "userId"),
        encounter_id=_text(context, "encounterId"),
        cards=outcome.response["cards"] if answered else (),
        error=None if answered else _diagnostics(response),
        notes=outcome.notes if outcome else (),
        elapsed_ms=(time.perf_counter() - g.get("started", time.perf_counter())) * 1000,
        request_id=g.get("request_id", ""),
    )


@blueprint.post("/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    service = _service(service_id)
    items = parse_feedback(read_json_body(request, runtime().settings.max_json_depth))
    try:
        runtime().feedback.append(service.id, items)
    except Exception:  # any storage failure: tell the EHR to resend, acknowledge nothing
        log.exception("feedback could not be stored")
        return operation_outcome(503, "feedback could not be stored; nothing was kept, resend it")
    log.info("feedback %s: %d item(s) stored", service.id, len(items))
    return jsonify({})


def _service(service_id: str) -> ServiceDefinition:
    service = service_by_id(service_id)
    if service is None:
        known = ", ".join(s.id for s in SERVICES)
        raise RequestError(f"no CDS service {service_id[:80]!r}; known: {known}", status=404)
    return service


def _text(container: Any, key: str) -> str:
    """A string field of what the EHR sent, whatever shape the rest of it has."""
    value = container.get(key) if isinstance(container, dict) else None
    return value[:256] if isinstance(value, str) else ""


def _diagnostics(response: Response) -> str:
    body = response.get_json(silent=True)
    issues = body.get("issue") if isinstance(body, dict) else None
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        return str(issues[0].get("diagnostics", ""))[:500]
    return f"HTTP {response.status_code}"
