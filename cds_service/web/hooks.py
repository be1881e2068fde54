"""CDS Hooks endpoints: discovery, the hook call, feedback. Protocol only: the clinical work is
`CdsEngine.evaluate`."""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Blueprint, Response, g, jsonify, request, url_for

from cds_service.auth import TokenRejected
from cds_service.deadline import Deadline
from cds_service.feedback import parse_feedback
from cds_service.protocol import RequestError
from cds_service.services import SERVICES, ServiceDefinition, service_by_id
from cds_service.web import runtime
from cds_service.web.errors import operation_outcome, read_json_body

blueprint = Blueprint("hooks", __name__, url_prefix="/cds-services")
log = logging.getLogger("cds_service.hooks")


@blueprint.before_request
def require_token() -> Response | None:
    """Hook and feedback calls carry the EHR's JWT; discovery is open, as EHRs expect. The
    call's deadline starts here, so that fetching the EHR's keys counts against it."""
    g.deadline = Deadline(runtime().settings.request_deadline_s)
    verifier = runtime().verifier
    if verifier is None or request.method != "POST":
        return None
    base = runtime().settings.public_base_url
    audience = base.rstrip("/") + request.path if base else request.base_url
    try:
        verifier.verify(request.headers.get("Authorization"), audience, g.deadline)
    except TokenRejected as why:
        log.warning("token refused on %s: %s", request.path[:120], why)
        response = operation_outcome(401, "unauthorized")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return None


@blueprint.get("")
def discovery() -> Response:
    return jsonify({"services": [s.discovery_entry() for s in SERVICES]})


@blueprint.post("/<service_id>")
def call_hook(service_id: str) -> Response:
    service = _service(service_id)
    started = time.perf_counter()
    body = read_json_body(request, runtime().settings.max_json_depth)
    outcome = runtime().engine.evaluate(
        service, body, explain_url=url_for("explain.explain", _external=True), deadline=g.deadline
    )
    log.info(
        "hook %s instance=%s patient=%s cards=%d notes=%d in %.1f ms",
        service.id,
        outcome.request.hook_instance[:64],
        pseudonym(outcome.request.patient_id),
        len(outcome.response["cards"]),
        len(outcome.notes),
        (time.perf_counter() - started) * 1000,
    )
    return jsonify(outcome.response)


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


def pseudonym(patient_id: str) -> str:
    """A stable, non-reversible tag for logs: the patient id itself is never logged."""
    return hashlib.sha256(patient_id.encode()).hexdigest()[:12]
