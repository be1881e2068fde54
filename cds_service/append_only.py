"""Append-only SQLite tables, durable at each commit: what feedback and the audit trail share.

WAL mode, `synchronous=FULL` (each commit is on disk before it returns), and triggers that
refuse UPDATE and DELETE on every table named, so that what was stored stays as it was stored.
Safe across threads and processes: every operation opens its own connection (the audit
trail's appends go through one writer a process instead: `cds_service.group_commit`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

BUSY_TIMEOUT_S = 10  # writers from several workers queue for the lock this long


def create_store(path: Path, schema: str, tables: Iterable[str]) -> None:
    """Create the file and its tables (if need be) and make `tables` append-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, kept by the file
        db.executescript(schema)
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                db.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
                    f"BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    finally:
        db.close()


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level="DEFERRED")
    db.execute("PRAGMA synchronous=FULL")  # per connection: fsync at every commit
    return db


def count_rows(path: Path, table: str) -> int:
    db = connect(path)
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - ours
    finally:
        db.close()
