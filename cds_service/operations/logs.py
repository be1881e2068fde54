"""Structured logs: one JSON object per line, each carrying the request id of the call it
belongs to, so that a log pipeline can gather a call's lines and join them to the audit trail
(whose record holds the same id).

Messages never hold a token or a patient identifier in clear: the web layer logs pseudonyms
(`cds_service.adapters.secret_keys.Pseudonyms`) and token-refusal reasons only.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime

from flask import g, has_request_context

REQUEST_ID_HEADER = "X-Request-Id"
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a caller's id is echoed only if it is tame
# werkzeug colours its request lines for a terminal; a log pipeline wants the plain text
_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")


def request_id_for(incoming: str | None) -> str:
    """The caller's id when it looks like one (a gateway's trace id), else a new one."""
    if incoming and _ACCEPTED_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _TERMINAL_STYLE.sub("", record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["requestId"] = request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Stamps each record made while a request is handled with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id")
        return True


def configure_logging(level: int = logging.INFO, structured: bool = True) -> None:
    """The root logger writes to stderr: JSON lines (production) or plain text."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if structured
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
