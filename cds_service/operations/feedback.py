"""CDS Hooks feedback: validated, then stored durably before the EHR is told 200.

The store is an append-only SQLite table (`cds_service.adapters.append_only`: each commit reaches
the disk
before `append` returns; UPDATE and DELETE are refused). A batch is stored whole or not at
all, so an EHR that gets an error can resend it without duplicating half of it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds_service.adapters.append_only import connect, count_rows, create_store
from cds_service.protocol.hook_request import RequestError

MAX_FEEDBACK_ITEMS = 100
MAX_COMMENT_LENGTH = 4000
OUTCOMES = ("accepted", "overridden")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    service_id TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    record TEXT NOT NULL  -- the feedback item as received (validated JSON)
);
"""


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    card: str
    outcome: str
    outcome_timestamp: str
    record: Mapping[str, Any]


def parse_feedback(body: Any) -> list[FeedbackItem]:
    """The feedback items of a request body, or `RequestError` naming the first problem."""
    if not isinstance(body, Mapping):
        raise RequestError("the feedback body must be a JSON object")
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise RequestError("feedback must be a non-empty list", expression="feedback")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise RequestError(
            f"at most {MAX_FEEDBACK_ITEMS} feedback items per request", expression="feedback"
        )
    return [_item(item, f"feedback[{n}]") for n, item in enumerate(items)]


def _item(item: Any, where: str) -> FeedbackItem:
    if not isinstance(item, Mapping):
        raise RequestError(f"{where} must be a JSON object", expression=where)
    card = item.get("card")
    if not isinstance(card, str) or not _is_uuid(card):
        raise RequestError(f"{where}.card must be the uuid of a card", expression=f"{where}.card")
    outcome = item.get("outcome")
    if outcome not in OUTCOMES:
        raise RequestError(
            f"{where}.outcome must be 'accepted' or 'overridden' (cds-fb-1)",
            expression=f"{where}.outcome",
        )
    accepted = item.get("acceptedSuggestions")
    if outcome == "accepted":
        if not isinstance(accepted, list) or not accepted:
            raise RequestError(
                f"{where}: an accepted card needs acceptedSuggestions (cds-fb-2)",
                expression=f"{where}.acceptedSuggestions",
            )
        for n, suggestion in enumerate(accepted):
            if not isinstance(suggestion, Mapping) or not isinstance(suggestion.get("id"), str):
                raise RequestError(
                    f"{where}.acceptedSuggestions[{n}] must be an object with an id",
                    expression=f"{where}.acceptedSuggestions[{n}]",
                )
    elif accepted is not None:
        raise RequestError(
            f"{where}: acceptedSuggestions only go with outcome 'accepted'",
            expression=f"{where}.acceptedSuggestions",
        )
    reason = item.get("overrideReason")
    if reason is not None:
        _override_reason(reason, f"{where}.overrideReason", outcome)
    timestamp = item.get("outcomeTimestamp")
    if not isinstance(timestamp, str) or _instant(timestamp) is None:
        raise RequestError(
            f"{where}.outcomeTimestamp must be an ISO 8601 date-time in UTC",
            expression=f"{where}.outcomeTimestamp",
        )
    return FeedbackItem(card, outcome, timestamp, dict(item))


def _override_reason(reason: Any, where: str, outcome: str) -> None:
    if outcome != "overridden":
        raise RequestError(f"{where} only goes with outcome 'overridden'", expression=where)
    if not isinstance(reason, Mapping):
        raise RequestError(f"{where} must be a JSON object", expression=where)
    coding, comment = reason.get("reason"), reason.get("userComment")
    if coding is None and comment is None:
        raise RequestError(
            f"{where} needs a reason, a userComment or both (cds-fb-3)", expression=where
        )
    if coding is not None and not (
        isinstance(coding, Mapping)
        and isinstance(coding.get("code"), str)
        and isinstance(coding.get("system"), str)
    ):
        raise RequestError(
            f"{where}.reason must be a Coding with system and code", expression=where
        )
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_LENGTH):
        raise RequestError(
            f"{where}.userComment must be text of at most {MAX_COMMENT_LENGTH} characters",
            expression=f"{where}.userComment",
        )


class FeedbackStore:
    """Append-only, durable feedback storage; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        create_store(path, _SCHEMA, ["feedback"])

    def append(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        """Store every item or none; returns when the commit is on disk."""
        received = datetime.now(UTC).isoformat(timespec="milliseconds")
        rows = [
            (
                received,
                service_id,
                item.card,
                item.outcome,
                item.outcome_timestamp,
                json.dumps(item.record, ensure_ascii=False, sort_keys=True),
            )
            for item in items
        ]
        db = connect(self.path)
        try:
            with db:
                db.executemany(
                    "INSERT INTO feedback (received_at, service_id, card, outcome,"
                    " outcome_timestamp, record) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
        finally:
            db.close()
        return len(rows)

    def count(self) -> int:
        return count_rows(self.path, "feedback")

    def records(self) -> list[dict[str, Any]]:
        db = connect(self.path)
        try:
            rows = db.execute("SELECT service_id, record FROM feedback ORDER BY id").fetchall()
        finally:
            db.close()
        return [{"service": service, **json.loads(record)} for service, record in rows]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _instant(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None and not parsed.utcoffset() else None
