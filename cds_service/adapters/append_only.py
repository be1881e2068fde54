"""Append-only SQLite tables, durable at each commit: what feedback and the audit trail share.

WAL mode, `synchronous=FULL` (each commit is on disk before it returns), and triggers that
refuse UPDATE and DELETE on every table named, so that what was stored stays as it was stored.
Safe across threads and processes: every operation opens its own connection (the audit
trail's appends go through one writer a process instead: `cds_service.adapters.group_commit`).

Private to the service's user, as with umask 077: the file is made 0600 before SQLite opens it
(SQLite gives its -wal and -shm files the database's mode), a folder made here is 0700, and a
store left readable by others (by an older version) is tightened when opened.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterable
from pathlib import Path

BUSY_TIMEOUT_S = 10  # writers from several workers queue for the lock this long
SIDE_FILES = ("-wal", "-shm")  # SQLite's, beside the database in WAL mode
log = logging.getLogger("cds_service.append_only")


def create_store(path: Path, schema: str, tables: Iterable[str]) -> None:
    """Create the file and its tables (if need be) and make `tables` append-only."""
    private_folder(path.parent)
    private_file(path)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            private_file(side)
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


def private_folder(folder: Path) -> None:
    """Make `folder` (and its parents) when missing, the last one 0700. A folder that exists is
    left as it is: a mounted volume's mode is the platform's to set, and the files are 0600."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def private_file(path: Path) -> None:
    """Make `path` empty with mode 0600 (SQLite reads an empty file as an empty database), or
    take group and other access away from the file there."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, mode & 0o700)
        except PermissionError:  # not ours: say so, the service still starts
            log.warning("%s is readable by others (mode %o) and cannot be changed", path, mode)


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level="DEFERRED")
    db.execute("PRAGMA synchronous=FULL")  # per connection: fsync at every commit
    return db


def count_rows(path: Path, table: str) -> int:
    db = connect(path)
    try:
        count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - ours
        return count
    finally:
        db.close()
