"""Every error the service answers is a FHIR OperationOutcome with a specific message.

No stack trace ever reaches the caller: unexpected exceptions are logged here and answered
with a generic 500 outcome.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask import Flask, Request, Response
from werkzeug.exceptions import HTTPException

from cds_service.protocol.current_medications import MedicationDataUnavailable
from cds_service.protocol.hook_request import RequestError
from cds_service.web.pages import error_page

log = logging.getLogger("cds_service.web")

ISSUE_CODES: dict[int, str] = {  # HTTP status -> FHIR issue-type code
    400: "invalid",
    401: "login",
    404: "not-found",
    405: "not-supported",
    412: "incomplete",
    413: "too-long",
    415: "not-supported",
    429: "throttled",
    500: "exception",
    503: "transient",
}
JSON_TYPES = ("application/json", "application/fhir+json")


def operation_outcome(status: int, message: str, expression: str | None = None) -> Response:
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": ISSUE_CODES.get(status, "processing"),
        "diagnostics": message,
    }
    if expression:
        issue["expression"] = [expression]
    body = {"resourceType": "OperationOutcome", "issue": [issue]}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def read_json_body(request: Request, max_depth: int) -> Any:
    """The request's JSON, or `RequestError` saying exactly why it cannot be read."""
    mimetype = request.mimetype
    if mimetype and mimetype not in JSON_TYPES and not mimetype.endswith("+json"):
        raise RequestError(f"the body must be JSON (application/json), not {mimetype}", status=415)
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise RequestError("the request body is empty; a JSON object was expected")
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise RequestError(
            f"the request body is not valid JSON: {error.msg} at line {error.lineno} column "
            f"{error.colno}"
        ) from None
    except RecursionError:
        raise RequestError(f"the JSON is nested more than {max_depth} levels deep") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise RequestError(f"the request body is not usable JSON: {_clip(str(error))}") from None
    _check_values(body, max_depth)
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {_clip(text)} is out of range")
    return value


def _check_values(value: Any, limit: int) -> None:
    """Depth, and text that can be stored: JSON may escape half a UTF-16 surrogate pair
    ("\\ud800"), which Python accepts but no UTF-8 file, log or database does."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise RequestError(f"the JSON is nested more than {limit} levels deep")
        if isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and not _is_unicode_text(item):
            raise RequestError(
                "the request body holds text that is not valid Unicode (a lone UTF-16 "
                "surrogate escape such as \\ud800)"
            )


def _is_unicode_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RequestError)
    def request_error(error: RequestError) -> Response:
        page = error_page(error.status, error.message)
        return page or operation_outcome(error.status, error.message, error.expression)

    @app.errorhandler(MedicationDataUnavailable)
    def data_unavailable(error: MedicationDataUnavailable) -> Response:
        return operation_outcome(412, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = {
            404: "no such endpoint; the services are listed at GET /cds-services",
            405: "this method is not allowed on this endpoint",
            413: "the request body is larger than this service accepts",
        }.get(status, error.description or error.name)
        return error_page(status, message) or operation_outcome(status, message)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error while answering a request")
        return operation_outcome(500, "internal error; the incident was logged")
