"""Group commit: many threads (and processes) appending to one SQLite file, each call returning
only once its rows are on disk, with one transaction and one fsync for all who are waiting.

Why: the audit trail commits a row for every hook call with `synchronous=FULL`. When each
request thread committed on its own, the writers of every worker queued for SQLite's write lock
through its busy handler, which sleeps in steps of up to 100 ms and is not fair: under load a
call could wait most of a second behind the others' fsyncs. Here each process has one writer
thread. It takes whatever is waiting (up to `MAX_BATCH` items), writes it in one transaction,
and wakes each caller with its own result. Between processes the writers take an advisory file
lock first (`flock`, released by the kernel if a process dies), so SQLite's busy handler is not
the one deciding who writes next.

Durability is the same as a commit per call: nobody is told "stored" before the commit that
holds their rows has returned. When a batch fails, each of its items is retried in a
transaction of its own, so that one bad item cannot cost the others their rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from cds_service.adapters.append_only import BUSY_TIMEOUT_S, connect

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 64
LOCK_POLL_S = 0.0005  # between tries for another process's lock: far below one fsync


class WriterUnavailable(sqlite3.OperationalError):
    """The rows could not be written in time (another process holds the file, or the disk
    hangs); they were not stored."""


@dataclass(slots=True)
class _Pending(Generic[Item, Result]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None


WriteBatch = Callable[[sqlite3.Connection, Sequence[Item]], list[Result]]


class GroupCommitter(Generic[Item, Result]):
    """`submit(item)` from any thread: `write(db, items)` runs on the writer thread inside a
    transaction (`BEGIN IMMEDIATE` ... `COMMIT`) and returns one result per item."""

    def __init__(self, path: Path, write: WriteBatch[Item, Result]) -> None:
        self.path = path
        self._write = write
        self._lock_path = path.with_name(path.name + ".lock")
        self._state_lock = threading.Lock()
        self._owner_pid: int | None = None
        self._queue: queue.SimpleQueue[_Pending[Item, Result]] = queue.SimpleQueue()
        self.batches = 0  # transactions committed by this process (for tests and the bench)

    def submit(self, item: Item) -> Result:
        """Blocks until `item` is committed; raises what its transaction raised."""
        self._ensure_writer()
        pending: _Pending[Item, Result] = _Pending(item)
        self._queue.put(pending)
        # The writer gives up on the file lock after BUSY_TIMEOUT_S, so it always answers;
        # the margin covers the fsync itself.
        if not pending.done.wait(BUSY_TIMEOUT_S * 3):
            raise WriterUnavailable(f"{self.path.name}: the writer did not answer in time")
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    def _ensure_writer(self) -> None:
        # A forked worker inherits the parent's object but not its thread: start its own.
        pid = os.getpid()
        if self._owner_pid == pid:
            return
        with self._state_lock:
            if self._owner_pid == pid:
                return
            self._queue = queue.SimpleQueue()
            thread = threading.Thread(
                target=self._run, name=f"group-commit:{self.path.name}", daemon=True
            )
            thread.start()
            self._owner_pid = pid

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        pending_queue = self._queue
        while True:  # nothing here may raise: a dead writer would leave its callers waiting
            batch = [pending_queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(pending_queue.get_nowait())
                except queue.Empty:
                    break
            db = self._commit(db, batch)

    def _commit(
        self, db: sqlite3.Connection | None, batch: list[_Pending[Item, Result]]
    ) -> sqlite3.Connection | None:
        """Commit `batch`, wake its callers, and return the connection to keep (None after a
        failure: a connection in an unknown state is not reused)."""
        try:
            db = db or connect(self.path)
            results = self._transaction(db, [p.item for p in batch])
        except BaseException as error:  # handed to the callers, who decide
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            if len(batch) == 1:
                batch[0].error = error
                batch[0].done.set()
                return None
            db = None
            for pending in batch:  # one at a time: only the items that fail, fail
                db = self._commit(db, [pending])
            return db
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
            pending.done.set()
        self.batches += 1
        return db

    def _transaction(self, db: sqlite3.Connection, items: list[Item]) -> list[Result]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
            db.execute("BEGIN IMMEDIATE")
            try:
                results = self._write(db, items)
                if len(results) != len(items):
                    raise ValueError("a batch write must return one result per item")
                db.commit()
            except BaseException:
                db.rollback()
                raise
            return results
        finally:
            os.close(fd)  # releases the lock


def _lock(fd: int) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise WriterUnavailable("another process held the write lock too long") from None
            time.sleep(LOCK_POLL_S)
