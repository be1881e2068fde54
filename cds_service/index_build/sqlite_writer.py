"""Write a SQLite artifact so that the same rows always give the same bytes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path


def digest_files(paths: Iterable[Path], salt: str) -> str:
    """A short digest of the inputs and of the build code itself.

    The artifact's version changes when any input or any builder module changes, so a stale
    committed artifact cannot pass for a fresh one.
    """
    # Keyed by file name and content, never by path: the same data read from another folder
    # (relative or absolute, site-packages or ../shared) must give the same version.
    builder_code = sorted(Path(__file__).parent.glob("*.py"))
    entries = sorted(
        (path.name, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in [*paths, *builder_code]
    )
    sha = hashlib.sha256(salt.encode())
    for name, content in entries:
        sha.update(f"{name}\0{content}\0".encode())
    return sha.hexdigest()[:12]


def write_sqlite(
    out_path: Path,
    schema: str,
    tables: Mapping[str, Iterable[Sequence[object]]],
    meta: Mapping[str, str],
) -> None:
    """Create `out_path` atomically: rows sorted, no timestamps, vacuumed."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp_path.unlink(missing_ok=True)
    db = sqlite3.connect(tmp_path)
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA page_size = 4096")
        db.executescript(schema)
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(meta.items()))
        for table, rows in tables.items():
            ordered = sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
            if not ordered:
                continue
            marks = ", ".join("?" * len(ordered[0]))
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", ordered)  # noqa: S608
        db.commit()
        db.execute("VACUUM")
    finally:
        db.close()
    os.replace(tmp_path, out_path)
