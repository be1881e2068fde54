"""The audit trail: every hook call and every card served, so that a card can be traced
afterwards to the call that produced it, the versions that decided it and what it said.

Append-only SQLite (`cds_service.append_only`) in the data folder, `audit.sqlite`:

* `hook_call`: one row per call, whatever its status (401s and 400s included): when, the
  service, `hookInstance`, the patient's pseudonym, the HTTP status, the versions of the service,
  drug index, knowledge and model, and a JSON record (the user's and encounter's pseudonyms, the
  cards as served, the reason of an error, the call's notes and duration);
* `card_served`: each card's uuid (what feedback refers to) with its call.

Identifiers are never stored in clear: `Pseudonyms` is a keyed hash (HMAC-SHA-256), so a person
holding the key can find a patient's calls, and nobody without it can test guesses against the
file. Rows are chained: each stores the SHA-256 of the previous row and of itself, so that
`verify` finds a row changed or removed behind SQLite's back (the triggers stop it through SQL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds_service import metrics
from cds_service.append_only import connect, count_rows, create_store
from cds_service.group_commit import GroupCommitter

GENESIS = "0" * 64  # the `previous` of the first row
log = logging.getLogger("cds_service.audit")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hook_call (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    service_id TEXT NOT NULL,
    hook_instance TEXT NOT NULL,
    patient TEXT NOT NULL,  -- keyed pseudonym; empty when the call named no patient
    status INTEGER NOT NULL,
    versions TEXT NOT NULL,  -- JSON
    record TEXT NOT NULL,  -- JSON
    previous TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hook_call_patient ON hook_call (patient);
CREATE TABLE IF NOT EXISTS card_served (
    card_uuid TEXT NOT NULL,
    call_id INTEGER NOT NULL REFERENCES hook_call (id),
    indicator TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_served_uuid ON card_served (card_uuid);
"""


class Pseudonyms:
    """Stable, keyed, non-reversible tags for identifiers (patients, users, encounters)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key

    def of(self, identifier: str | None) -> str:
        if not identifier:
            return ""
        digest = hmac.new(self._key, identifier.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:24]


def pseudonym_key(configured: str, key_file: Path) -> bytes:
    """The configured key (hex, e.g. from a Kubernetes Secret), else the one kept in `key_file`,
    made on first use (readable by the service's user only). Every worker and replica writing
    to one trail must share it, or one patient gets several pseudonyms."""
    if configured:
        try:
            return bytes.fromhex(configured)
        except ValueError:
            raise ValueError("DDI_CDS_PSEUDONYM_KEY must be hexadecimal") from None
    try:
        return bytes.fromhex(key_file.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: when workers start together, one writes and the others read its key
        handle = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(key_file.read_text(encoding="ascii").strip())
    key = secrets.token_bytes(32)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(key.hex())
        out.flush()
        os.fsync(out.fileno())
    return key


@dataclass(frozen=True, slots=True)
class HookCallRecord:
    """One hook call as the web layer saw it; identifiers in clear (pseudonymised on append)."""

    service_id: str
    status: int
    versions: Mapping[str, str | None]
    hook_instance: str = ""
    patient_id: str | None = None
    user_id: str | None = None
    encounter_id: str | None = None
    cards: Sequence[Mapping[str, Any]] = ()
    error: str | None = None  # the diagnostics of an error answer
    notes: Sequence[str] = ()
    elapsed_ms: float = 0.0
    request_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    rows: int
    broken_at: int | None  # the id of the first row that does not match its chain
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


class AuditTrail:
    def __init__(self, path: Path, pseudonyms: Pseudonyms) -> None:
        self.path = path
        self.pseudonyms = pseudonyms
        self.appended = 0  # by this process, for /metrics
        self.failed = 0
        create_store(path, _SCHEMA, ["hook_call", "card_served"])
        self._writer: GroupCommitter[_PendingRow, int] = GroupCommitter(path, _write_calls)

    def note_failure(self) -> None:
        """A record that was not stored: counted here and on /metrics (an alert's signal)."""
        self.failed += 1
        metrics.AUDIT_FAILURES.inc()

    def append_or_log(self, call: HookCallRecord) -> int | None:
        """`append`, and when the trail cannot be written (disk full, locked too long), the
        record goes to the error log instead, pseudonymised as it would have been stored. The
        answer to the EHR is not held back for it: the prescriber's warnings come first."""
        try:
            call_id = self.append(call)
        except (sqlite3.Error, OSError) as error:
            self.note_failure()
            log.error(
                "audit record not stored (%s: %s); kept here instead: %s",
                type(error).__name__,
                error,
                _canonical(self._stored_form(call)),
            )
            return None
        self.appended += 1
        metrics.AUDIT_RECORDS.inc()
        return call_id

    def append(self, call: HookCallRecord) -> int:
        """Store the call and its cards in one transaction; returns its row id when the commit
        is on disk. Raises `sqlite3.Error` / `OSError` when it cannot be stored. Calls from
        every thread of the process share commits (`cds_service.group_commit`)."""
        stored = self._stored_form(call)
        row = (
            stored["at"],
            call.service_id,
            call.hook_instance[:128],
            stored["patient"],
            call.status,
            _canonical(dict(call.versions)),
            _canonical(stored["record"]),
        )
        served = [
            (
                str(card.get("uuid", "")),
                str(card.get("indicator", "")),
                str((card.get("source") or {}).get("label", "")),
            )
            for card in call.cards
        ]
        return self._writer.submit((row, served))

    def _stored_form(self, call: HookCallRecord) -> dict[str, Any]:
        record = {
            "requestId": call.request_id,
            "user": self.pseudonyms.of(call.user_id),
            "encounter": self.pseudonyms.of(call.encounter_id),
            "elapsedMs": round(call.elapsed_ms, 1),
            "notes": list(call.notes),
            **({"error": call.error} if call.error else {}),
            **dict(call.extra),
            "cards": [dict(card) for card in call.cards],
        }
        return {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "serviceId": call.service_id,
            "status": call.status,
            "patient": self.pseudonyms.of(call.patient_id),
            "versions": dict(call.versions),
            "record": record,
        }

    def card(self, card_uuid: str) -> dict[str, Any] | None:
        """The call that served a card, with the card as it was served."""
        db = connect(self.path)
        try:
            found = db.execute(
                "SELECT call_id FROM card_served WHERE card_uuid = ?", (card_uuid,)
            ).fetchone()
            if found is None:
                return None
            call = _call(db, found[0])
        finally:
            db.close()
        card = next(c for c in call["record"]["cards"] if c.get("uuid") == card_uuid)
        return {**call, "card": card}

    def calls_for_patient(self, patient_id: str) -> list[dict[str, Any]]:
        db = connect(self.path)
        try:
            ids = db.execute(
                "SELECT id FROM hook_call WHERE patient = ? ORDER BY id",
                (self.pseudonyms.of(patient_id),),
            ).fetchall()
            return [_call(db, call_id) for (call_id,) in ids]
        finally:
            db.close()

    def count(self) -> int:
        return count_rows(self.path, "hook_call")

    def verify(self) -> ChainCheck:
        """Walk the chain: every row's hash, its link to the row before, no gap in the ids,
        and its cards' index rows."""
        db = connect(self.path)
        try:
            previous, expected_id, rows = GENESIS, None, 0
            for call_id, row, stored_previous, stored_hash in _rows(db):
                rows += 1
                if expected_id is not None and call_id != expected_id:
                    return ChainCheck(rows, call_id, f"rows {expected_id}..{call_id - 1} missing")
                if stored_previous != previous:
                    return ChainCheck(rows, call_id, "does not follow the row before it")
                if _row_hash(previous, row) != stored_hash:
                    return ChainCheck(rows, call_id, "its content does not match its hash")
                served = {
                    u for (u,) in db.execute(
                        "SELECT card_uuid FROM card_served WHERE call_id = ?", (call_id,)
                    )
                }  # fmt: skip
                if served != {str(c.get("uuid", "")) for c in json.loads(row[6])["cards"]}:
                    return ChainCheck(rows, call_id, "its cards' index rows do not match it")
                previous, expected_id = stored_hash, call_id + 1
            return ChainCheck(rows, None)
        finally:
            db.close()


_PendingRow = tuple[tuple, list[tuple[str, str, str]]]  # the call's row; its cards' index rows


def _write_calls(db: sqlite3.Connection, pending: Sequence[_PendingRow]) -> list[int]:
    """Chain each row to the one before it (the last stored, then each other in turn)."""
    last = db.execute("SELECT hash FROM hook_call ORDER BY id DESC LIMIT 1").fetchone()
    previous = last[0] if last else GENESIS
    ids = []
    for row, served in pending:
        row_hash = _row_hash(previous, row)
        cursor = db.execute(
            "INSERT INTO hook_call (at, service_id, hook_instance, patient, status, versions,"
            " record, previous, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, previous, row_hash),
        )
        call_id = int(cursor.lastrowid or 0)
        db.executemany(
            "INSERT INTO card_served (card_uuid, call_id, indicator, source) VALUES (?,?,?,?)",
            [(uuid, call_id, indicator, source) for uuid, indicator, source in served],
        )
        ids.append(call_id)
        previous = row_hash
    return ids


def _rows(db: Any) -> Iterator[tuple[int, tuple, str, str]]:
    query = (
        "SELECT id, at, service_id, hook_instance, patient, status, versions, record, previous,"
        " hash FROM hook_call ORDER BY id"
    )
    for values in db.execute(query):
        yield values[0], tuple(values[1:8]), values[8], values[9]


def _call(db: Any, call_id: int) -> dict[str, Any]:
    values = db.execute(
        "SELECT id, at, service_id, hook_instance, patient, status, versions, record"
        " FROM hook_call WHERE id = ?",
        (call_id,),
    ).fetchone()
    keys = ("id", "at", "serviceId", "hookInstance", "patient", "status")
    return {
        **dict(zip(keys, values[:6], strict=True)),
        "versions": json.loads(values[6]),
        "record": json.loads(values[7]),
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _row_hash(previous: str, row: tuple) -> str:
    return hashlib.sha256((previous + _canonical(list(row))).encode("utf-8")).hexdigest()
