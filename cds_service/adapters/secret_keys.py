"""The service's secret keys and the pseudonyms they make.

Two keys protect what the service stores: the pseudonym key (patients', users' and encounters'
ids in the audit trail and the logs are keyed hashes, so the file cannot be searched by guessing
ids) and the audit key (the trail's hash chain is keyed, so an edited trail's chain cannot be
recomputed). Each comes from the environment (a secret; `serve --production` requires both) or,
in development, is made once in the data folder, readable by the service's user only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cds_service.adapters.append_only import private_folder

MIN_KEY_BYTES = 16
PSEUDONYM_KEY_FILE, AUDIT_KEY_FILE = "pseudonym.key", "audit.key"  # development only
PSEUDONYM_KEY_VARIABLE, AUDIT_KEY_VARIABLE = "DDI_CDS_PSEUDONYM_KEY", "DDI_CDS_AUDIT_KEY"


class AuditSetupError(ValueError):
    """A key missing or malformed, or a trail that cannot be written with the keys given: the
    service does not start, and says why."""


class Pseudonyms:
    """Stable, keyed, non-reversible tags for identifiers (patients, users, encounters)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key

    def of(self, identifier: str | None) -> str:
        if not identifier:
            return ""
        digest = hmac.new(self._key, identifier.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:24]


def parse_key(configured: str, variable: str) -> bytes:
    try:
        key = bytes.fromhex(configured.strip())
    except ValueError:
        raise AuditSetupError(
            f"{variable} must be hexadecimal (make one with `openssl rand -hex 32`)"
        ) from None
    if len(key) < MIN_KEY_BYTES:
        raise AuditSetupError(
            f"{variable} must hold at least {MIN_KEY_BYTES} bytes (32 hex digits)"
        )
    return key


def load_key(configured: str, variable: str, key_file: Path, *, create: bool) -> bytes | None:
    """The configured key (hex, e.g. from a Kubernetes Secret), else the one kept in `key_file`,
    made there on first use when `create` (readable by the service's user only); None when
    there is neither and `create` is false."""
    if configured:
        return parse_key(configured, variable)
    try:
        return parse_key(key_file.read_text(encoding="ascii"), str(key_file))
    except FileNotFoundError:
        if not create:
            return None
    private_folder(key_file.parent)
    try:  # O_EXCL: when workers start together, one writes and the others read its key
        handle = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_key(key_file.read_text(encoding="ascii"), str(key_file))
    key = secrets.token_bytes(32)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(key.hex())
        out.flush()
        os.fsync(out.fileno())
    return key


def pseudonym_key(configured: str, key_file: Path) -> bytes:
    """The pseudonym key as configured, else kept in (or made once in) `key_file`. Every worker
    and replica writing to one trail must share it, or one patient gets several pseudonyms."""
    key = load_key(configured, PSEUDONYM_KEY_VARIABLE, key_file, create=True)
    assert key is not None  # made when missing
    return key
