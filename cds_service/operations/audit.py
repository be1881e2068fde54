"""The audit trail: every hook call the service answered or refused past the token check, and
every card served, so that a card can be traced afterwards to the call that produced it, the
versions that decided it and what it said.

Append-only SQLite (`cds_service.adapters.append_only`) in the data folder, `audit.sqlite`:

* `hook_call`: one row per call, whatever its status (400, 404, 412, 413 included; 401s are
  counted on /metrics and in a sampled log line instead, see `note_unauthorized`): when, the
  service, `hookInstance`, the patient's pseudonym, the HTTP status, the versions of the service,
  drug index, knowledge and model, and a JSON record (the user's and encounter's pseudonyms,
  each card's uuid, indicator, source and SHA-256, the reason of an error, the call's notes,
  capped, and its duration);
* `card_served`: each card's uuid (what feedback refers to) with its call;
* `audit_meta`: the chain's format and a check of its key.

Cards are not stored, only their hash (`card_hash`): they carry text from the EHR (medication
names, order labels), and a call with a thousand drafts made a record of 20 MB, written on the
lock every call waits on. Whoever holds a card (the EHR, a complaint) can show that it is the
one served: `card_matches`, `ddi-cds audit card <uuid> --matches card.json`.

Identifiers are never stored in clear: `Pseudonyms` is a keyed hash (HMAC-SHA-256), so a person
holding the key can find a patient's calls, and nobody without it can test guesses against the
file. Rows are chained with another key: each stores the HMAC-SHA-256 of the previous row's hash
and of itself, so that `verify` finds a row changed, removed or added behind SQLite's back (the
triggers stop it through SQL), even by someone who recomputed the chain: that takes the key,
which is not on the volume in production. Rows cut from the end are found against the chain's
head, which the service exports (log line and /metrics) at start and every `head_every` rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds_service.adapters.append_only import connect, count_rows, create_store
from cds_service.adapters.group_commit import GroupCommitter
from cds_service.adapters.secret_keys import (
    AUDIT_KEY_VARIABLE,
    PSEUDONYM_KEY_VARIABLE,
    AuditSetupError,
    Pseudonyms,
)
from cds_service.operations import metrics
from cds_service.operations.audit_record import (
    MAX_ERROR_CHARS,
    HookCallRecord,
    canonical_json,
    capped_notes,
    card_entry,
    card_hash,
)
from cds_service.operations.log_sampler import LogSampler

GENESIS = "0" * 64  # the `previous` of the first row
CHAIN_FORMAT = "hmac-sha256/1"  # in `audit_meta`; a trail without it is an older, unkeyed one
UNAUTHORIZED_LOG_EVERY_S = 60.0  # at most one warning line this often, per process
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
    hash TEXT NOT NULL  -- HMAC-SHA-256 (audit key) of previous + the row
);
CREATE INDEX IF NOT EXISTS hook_call_patient ON hook_call (patient);
CREATE TABLE IF NOT EXISTS card_served (
    card_uuid TEXT NOT NULL,
    call_id INTEGER NOT NULL REFERENCES hook_call (id),
    indicator TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_served_uuid ON card_served (card_uuid);
CREATE TABLE IF NOT EXISTS audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_TABLES = ["hook_call", "card_served", "audit_meta"]


@dataclass(frozen=True, slots=True)
class ChainCheck:
    rows: int
    broken_at: int | None  # the first row that does not match its chain; 0: the trail as a whole
    reason: str = ""
    head: tuple[int, str] | None = None  # the last row and its hash
    unkeyed: bool = False  # written by an older version: its chain proves nothing

    @property
    def intact(self) -> bool:
        return self.broken_at is None and not self.unkeyed


class AuditTrail:
    """The trail of one data folder. Written by the service (`read_only=False`: both keys
    needed; the store is made, or checked to be keyed with `chain_key`); read by `ddi-cds audit`
    (`read_only=True`: nothing is written, and a key is needed only by what uses it)."""

    def __init__(
        self,
        path: Path,
        pseudonyms: Pseudonyms | None,
        chain_key: bytes | None,
        *,
        read_only: bool = False,
        head_every: int = 1000,
    ) -> None:
        self.path = path
        self._pseudonyms = pseudonyms
        self._chain_key = chain_key
        self.head_every = max(1, head_every)
        self.appended = 0  # by this process, for /metrics
        self.failed = 0
        self.unauthorized = LogSampler(UNAUTHORIZED_LOG_EVERY_S)
        self._head_lock = threading.Lock()
        self._rows_seen = 0
        if read_only:
            return
        if pseudonyms is None or chain_key is None:
            raise AuditSetupError("writing the audit trail needs the pseudonym and audit keys")
        create_store(path, _SCHEMA, _TABLES)
        self._claim(chain_key)
        self._writer: GroupCommitter[_PendingRow, tuple[int, str]] = GroupCommitter(
            path, _batch_writer(chain_key)
        )
        self._export_head()

    @property
    def pseudonyms(self) -> Pseudonyms:
        if self._pseudonyms is None:
            raise AuditSetupError(
                f"this needs the pseudonym key: {PSEUDONYM_KEY_VARIABLE}, as the service has it"
            )
        return self._pseudonyms

    def _claim(self, chain_key: bytes) -> None:
        """Mark a new trail as keyed with `chain_key`; refuse one written with another key, or
        by an older version (appending keyed rows to an unkeyed chain would mix the two)."""
        db = connect(self.path)
        try:
            db.execute("BEGIN IMMEDIATE")  # services starting together: one marks, all check
            meta = _meta(db)
            if meta is None or "chain" not in meta:
                rows = db.execute("SELECT count(*) FROM hook_call").fetchone()[0]
                if rows:
                    raise AuditSetupError(_unkeyed_message(self.path, rows))
                meta = {"chain": CHAIN_FORMAT, "key_check": _key_check(chain_key)}
                db.executemany("INSERT INTO audit_meta (name, value) VALUES (?, ?)", meta.items())
            db.commit()
        finally:
            db.close()
        if meta["chain"] != CHAIN_FORMAT:
            raise AuditSetupError(f"{self.path}: unknown chain format {meta['chain']!r}")
        if not hmac.compare_digest(meta.get("key_check", ""), _key_check(chain_key)):
            raise AuditSetupError(
                f"{AUDIT_KEY_VARIABLE} is not the key {self.path} was written with: give the "
                "service its key, or move the trail aside to start a new one"
            )

    def note_failure(self) -> None:
        """A record that was not stored: counted here and on /metrics (an alert's signal)."""
        self.failed += 1
        metrics.AUDIT_FAILURES.inc()

    def note_unauthorized(self, endpoint: str) -> None:
        """A call refused for its token (401). Counted, and logged at most once a minute with
        the count since the last line; never stored: a row each let anyone without a token
        fill the disk and hold the lock that real calls wait on."""
        metrics.UNAUTHORIZED.labels(endpoint).inc()
        count = self.unauthorized.note()
        if count is not None:
            log.warning(
                "%d call(s) refused with 401 since the last such line (not in the audit trail; "
                "ddi_cds_unauthorized_total counts them)",
                count,
            )

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
                canonical_json(self._stored_form(call)),
            )
            return None
        self.appended += 1
        metrics.AUDIT_RECORDS.inc()
        return call_id

    def append(self, call: HookCallRecord) -> int:
        """Store the call and its cards in one transaction; returns its row id when the commit
        is on disk. Raises `sqlite3.Error` / `OSError` when it cannot be stored. Calls from
        every thread of the process share commits (`cds_service.adapters.group_commit`)."""
        stored = self._stored_form(call)
        row = (
            stored["at"],
            call.service_id,
            call.hook_instance[:128],
            stored["patient"],
            call.status,
            canonical_json(dict(call.versions)),
            canonical_json(stored["record"]),
        )
        served = [(c["uuid"], c["indicator"], c["source"]) for c in stored["record"]["cards"]]
        call_id, row_hash = self._writer.submit((row, served))
        self._saw_row(call_id, row_hash)
        return call_id

    def _stored_form(self, call: HookCallRecord) -> dict[str, Any]:
        record = {
            "requestId": call.request_id,
            "user": self.pseudonyms.of(call.user_id),
            "encounter": self.pseudonyms.of(call.encounter_id),
            "elapsedMs": round(call.elapsed_ms, 1),
            "notes": capped_notes(call.notes),
            **({"error": call.error[:MAX_ERROR_CHARS]} if call.error else {}),
            **dict(call.extra),
            "cards": [card_entry(card) for card in call.cards],
        }
        return {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "serviceId": call.service_id,
            "status": call.status,
            "patient": self.pseudonyms.of(call.patient_id),
            "versions": dict(call.versions),
            "record": record,
        }

    def _saw_row(self, call_id: int, row_hash: str) -> None:
        with self._head_lock:
            if call_id > self._rows_seen:
                self._rows_seen = call_id
                metrics.AUDIT_CHAIN_ROWS.set(call_id)
        if call_id % self.head_every == 0:  # ids are shared by every writer: one line per N
            _export(call_id, row_hash, f"every {self.head_every} rows")

    def _export_head(self) -> None:
        db = connect(self.path)
        try:
            last = db.execute("SELECT id, hash FROM hook_call ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            db.close()
        if last is None:
            log.info("audit chain head at start: empty")
            return
        with self._head_lock:
            self._rows_seen = max(self._rows_seen, last[0])
            metrics.AUDIT_CHAIN_ROWS.set(self._rows_seen)
        _export(last[0], last[1], "at start")

    def card(self, card_uuid: str) -> dict[str, Any] | None:
        """The call that served a card, with what the trail keeps of the card."""
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

    def card_matches(self, card_uuid: str, card: Mapping[str, Any]) -> bool | None:
        """Whether `card` is, to the byte of its canonical JSON, the card served with that
        uuid; None when no card of that uuid was served."""
        found = self.card(card_uuid)
        if found is None:
            return None
        stored = str(found["card"].get("sha256", ""))
        return bool(stored) and hmac.compare_digest(stored, card_hash(card))

    def calls_for_patient(self, patient_id: str) -> list[dict[str, Any]]:
        pseudonym = self.pseudonyms.of(patient_id)
        db = connect(self.path)
        try:
            ids = db.execute(
                "SELECT id FROM hook_call WHERE patient = ? ORDER BY id", (pseudonym,)
            ).fetchall()
            return [_call(db, call_id) for (call_id,) in ids]
        finally:
            db.close()

    def count(self) -> int:
        return count_rows(self.path, "hook_call")

    def verify(self, heads: Sequence[tuple[int, str]] = ()) -> ChainCheck:
        """Walk the chain: the key's check, every row's hash, its link to the row before, no
        gap in the ids, its cards' index rows; then each exported head given (row, hash or a
        prefix of it) must be in the chain as it was exported."""
        db = connect(self.path)
        try:
            meta = _meta(db)
            if meta is None or "chain" not in meta:
                return self._verify_unkeyed(db)
            if self._chain_key is None:
                raise AuditSetupError(
                    f"checking the chain needs its key: {AUDIT_KEY_VARIABLE}, as the service has it"
                )
            if meta["chain"] != CHAIN_FORMAT:
                return ChainCheck(0, 0, f"unknown chain format {meta['chain']!r}")
            if not hmac.compare_digest(meta.get("key_check", ""), _key_check(self._chain_key)):
                return ChainCheck(
                    count_rows(self.path, "hook_call"),
                    0,
                    "the audit key given is not the one the trail was written with, or the "
                    "trail's key check was replaced",
                )
            check, hashes = _walk(db, _keyed_hash(self._chain_key), {row for row, _ in heads})
        finally:
            db.close()
        if not check.intact:
            return check
        for row, expected in heads:
            if row not in hashes:
                return ChainCheck(
                    check.rows, row, f"row {row} of an exported head is missing: cut short"
                )
            if not expected or not hashes[row].startswith(expected.lower()):
                return ChainCheck(
                    check.rows, row, f"row {row} is not the exported head {expected}: rewritten"
                )
        return check

    def _verify_unkeyed(self, db: sqlite3.Connection) -> ChainCheck:
        check, _ = _walk(db, _unkeyed_hash, set())
        if check.rows == 0:
            return check
        consistent = "consistent" if check.broken_at is None else f"broken at row {check.broken_at}"
        return ChainCheck(
            check.rows,
            check.broken_at,
            f"{_unkeyed_message(self.path, check.rows)} (its SHA-256 chain is {consistent})",
            check.head,
            unkeyed=True,
        )


_AuditRow = tuple[Any, ...]  # a hook_call row's chained values, in column order
_PendingRow = tuple[_AuditRow, list[tuple[str, str, str]]]  # the call's row; its cards' index rows
_RowHash = Callable[[str, _AuditRow], str]


def _batch_writer(
    chain_key: bytes,
) -> Callable[[sqlite3.Connection, Sequence[_PendingRow]], list[tuple[int, str]]]:
    row_hash = _keyed_hash(chain_key)

    def write(db: sqlite3.Connection, pending: Sequence[_PendingRow]) -> list[tuple[int, str]]:
        """Chain each row to the one before it (the last stored, then each other in turn)."""
        last = db.execute("SELECT hash FROM hook_call ORDER BY id DESC LIMIT 1").fetchone()
        previous = last[0] if last else GENESIS
        written = []
        for row, served in pending:
            this_hash = row_hash(previous, row)
            cursor = db.execute(
                "INSERT INTO hook_call (at, service_id, hook_instance, patient, status, versions,"
                " record, previous, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, previous, this_hash),
            )
            call_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO card_served (card_uuid, call_id, indicator, source) VALUES (?,?,?,?)",
                [(uuid, call_id, indicator, source) for uuid, indicator, source in served],
            )
            written.append((call_id, this_hash))
            previous = this_hash
        return written

    return write


def _walk(
    db: sqlite3.Connection, row_hash: _RowHash, keep: set[int]
) -> tuple[ChainCheck, dict[int, str]]:
    """The chain checked row by row, and the hashes of the rows in `keep`."""
    previous, expected_id, rows = GENESIS, None, 0
    kept: dict[int, str] = {}
    head: tuple[int, str] | None = None
    for call_id, row, stored_previous, stored_hash in _rows(db):
        rows += 1
        if call_id != (expected_id or 1):
            first = expected_id or 1
            return ChainCheck(rows, call_id, f"rows {first}..{call_id - 1} missing"), kept
        if stored_previous != previous:
            return ChainCheck(rows, call_id, "does not follow the row before it"), kept
        if not hmac.compare_digest(row_hash(previous, row), stored_hash):
            return ChainCheck(rows, call_id, "its content does not match its hash"), kept
        served = {
            u for (u,) in db.execute(
                "SELECT card_uuid FROM card_served WHERE call_id = ?", (call_id,)
            )
        }  # fmt: skip
        if served != {str(c.get("uuid", "")) for c in json.loads(row[6])["cards"]}:
            return ChainCheck(rows, call_id, "its cards' index rows do not match it"), kept
        if call_id in keep:
            kept[call_id] = stored_hash
        previous, expected_id, head = stored_hash, call_id + 1, (call_id, stored_hash)
    return ChainCheck(rows, None, head=head), kept


def _export(row: int, row_hash: str, when: str) -> None:
    """The head where the volume's holder cannot reach it: the log pipeline and /metrics."""
    metrics.AUDIT_CHAIN_HEAD_ROW.set(row)
    metrics.AUDIT_CHAIN_HEAD_HASH48.set(int(row_hash[:12], 16))
    log.info("audit chain head (%s): row %d, hash %s", when, row, row_hash)


def _meta(db: sqlite3.Connection) -> dict[str, str] | None:
    """The trail's markers; None for a file made before they existed."""
    try:
        return dict(db.execute("SELECT name, value FROM audit_meta").fetchall())
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return None
        raise


def _unkeyed_message(path: Path, rows: int) -> str:
    return (
        f"{path} was written by an older version of ddi-cds whose chain is not keyed ({rows} "
        "rows): anyone with the file could have rewritten it and recomputed its chain. Keep it "
        "as an archive and move it aside (with its -wal and -shm files) so that the service "
        "starts a new, keyed trail"
    )


def _key_check(chain_key: bytes) -> str:
    """Tells the key the trail was written with from another one (as a row's hash would, but
    before any row): a wrong key is named as such, not as a broken first row."""
    return hmac.new(chain_key, b"ddi-cds audit chain key check", hashlib.sha256).hexdigest()[:32]


def _rows(db: Any) -> Iterator[tuple[int, _AuditRow, str, str]]:
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


def _chained(previous: str, row: _AuditRow) -> bytes:
    return (previous + canonical_json(list(row))).encode("utf-8")


def _keyed_hash(chain_key: bytes) -> _RowHash:
    def row_hash(previous: str, row: _AuditRow) -> str:
        return hmac.new(chain_key, _chained(previous, row), hashlib.sha256).hexdigest()

    return row_hash


def _unkeyed_hash(previous: str, row: _AuditRow) -> str:
    """The chain of versions before the key (read only, to report such a trail)."""
    return hashlib.sha256(_chained(previous, row)).hexdigest()
