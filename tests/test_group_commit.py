"""Group commit (cds_service.adapters.group_commit): callers share transactions, yet each learns
its own
outcome, and only the rows that fail are lost."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from cds_service.adapters import group_commit
from cds_service.adapters.append_only import connect, create_store
from cds_service.adapters.group_commit import GroupCommitter, WriterUnavailable
from cds_service.adapters.secret_keys import Pseudonyms
from cds_service.operations.audit import AuditTrail
from cds_service.operations.audit_record import HookCallRecord

SCHEMA = "CREATE TABLE IF NOT EXISTS note (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"


def write_notes(db: sqlite3.Connection, texts: Sequence[str]) -> list[int]:
    ids = []
    for text in texts:
        if text == "refused":
            raise ValueError("this item cannot be stored")
        ids.append(int(db.execute("INSERT INTO note (text) VALUES (?)", (text,)).lastrowid or 0))
    return ids


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "notes.sqlite"
    create_store(path, SCHEMA, ["note"])
    return path


def stored(path: Path) -> list[str]:
    db = connect(path)
    try:
        return [text for (text,) in db.execute("SELECT text FROM note ORDER BY id")]
    finally:
        db.close()


def submit_while_locked(committer: GroupCommitter, texts: list[str]) -> dict[str, object]:
    """Hold the writers' file lock (as another process would) while every text is submitted
    from a thread of its own, so that they queue up and are committed together."""
    outcomes: dict[str, object] = {}
    fd = os.open(committer.path.with_name(committer.path.name + ".lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)

    def submit(text: str) -> None:
        try:
            outcomes[text] = committer.submit(text)
        except Exception as error:  # recorded for the test to look at
            outcomes[text] = error

    threads = [threading.Thread(target=submit, args=(text,)) for text in texts]
    threads[0].start()  # the writer takes it, then waits for the lock
    while committer._owner_pid is None or committer._queue.qsize() > 0:
        time.sleep(0.01)
    time.sleep(0.05)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while committer._queue.qsize() < len(texts) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # until all but the first are queued behind the writer
    os.close(fd)
    for thread in threads:
        thread.join(timeout=10)
    return outcomes


def test_waiting_callers_share_one_commit_and_each_gets_its_own_row(store):
    committer = GroupCommitter(store, write_notes)
    texts = [f"note {i}" for i in range(20)]
    outcomes = submit_while_locked(committer, texts)

    assert committer.batches == 2  # the first caller alone, then the 19 who waited behind it
    assert sorted(stored(store)) == sorted(texts)
    db = connect(store)
    rows = dict(db.execute("SELECT text, id FROM note"))
    db.close()
    assert {text: outcomes[text] for text in texts} == rows


def test_an_item_that_fails_costs_the_others_nothing(store):
    committer = GroupCommitter(store, write_notes)
    texts = ["first", "second", "refused", "fourth", "fifth"]
    outcomes = submit_while_locked(committer, texts)

    assert isinstance(outcomes["refused"], ValueError)
    assert sorted(stored(store)) == ["fifth", "first", "fourth", "second"]
    assert all(isinstance(outcomes[t], int) for t in texts if t != "refused")


def test_a_lock_held_too_long_is_an_error_not_a_hang(store, monkeypatch):
    monkeypatch.setattr(group_commit, "BUSY_TIMEOUT_S", 0.3)
    committer = GroupCommitter(store, write_notes)
    fd = os.open(store.with_name(store.name + ".lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(WriterUnavailable):
            committer.submit("waits")
    finally:
        os.close(fd)
    assert committer.submit("after") > 0  # the writer lives on
    assert stored(store) == ["after"]


def _append_calls(trail: AuditTrail, worker: int, count: int) -> None:
    def append(thread: int) -> None:
        for i in range(count):
            trail.append(HookCallRecord("svc", 200, {}, hook_instance=f"{worker}-{thread}-{i}"))

    threads = [threading.Thread(target=append, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_forked_workers_appending_together_keep_one_unbroken_chain(tmp_path):
    # As under gunicorn: the master makes the trail (no connection left open: SQLite's must
    # not cross a fork) and the forked workers write to it.
    trail = AuditTrail(tmp_path / "audit.sqlite", Pseudonyms(b"k" * 32), b"c" * 32)
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_append_calls, args=(trail, w, 20)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    check = trail.verify()
    assert check.intact, check.reason
    assert check.rows == 2 * 3 * 20
