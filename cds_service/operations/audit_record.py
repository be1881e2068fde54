"""What the audit trail keeps of one hook call: the call as the web layer saw it
(`HookCallRecord`), and of each card its identity and hash, never its text. Pure.

Cards carry text from the EHR (medication names, order labels), and a call with a thousand
drafts once made a record of 20 MB, written on the lock every call waits on; so a record keeps
each card's uuid, indicator, source, SHA-256 and pair codes, and a bounded share of the notes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

# What a record keeps of a call's notes: notes can quote the EHR's data (a medication's text),
# and the record is written before the answer leaves, so its size must not grow with the request.
MAX_NOTES, MAX_NOTE_CHARS = 20, 300
MAX_ERROR_CHARS = 500


def card_hash(card: Mapping[str, Any]) -> str:
    """SHA-256 of the card's canonical JSON (keys sorted, no spaces, UTF-8): the same for the
    card as served and as the EHR holds it, whatever its key order or layout."""
    return hashlib.sha256(canonical_json(card).encode("utf-8", "surrogatepass")).hexdigest()


def card_entry(card: Mapping[str, Any]) -> dict[str, Any]:
    """What the trail keeps of a served card: no text that came from the EHR."""
    source = card.get("source")
    entry: dict[str, Any] = {
        "uuid": str(card.get("uuid", ""))[:64],
        "indicator": str(card.get("indicator", ""))[:16],
        "source": str(source.get("label", "") if isinstance(source, Mapping) else "")[:200],
        "sha256": card_hash(card),
    }
    pair = _pair_codes(card)
    if pair:
        entry["pair"] = pair
    return entry


def _pair_codes(card: Mapping[str, Any]) -> list[str]:
    """The pair's RxNorm ingredient codes, where the card links to the pair's explanation
    (`/explain?a=&b=`): codes of the knowledge, not of the patient."""
    links = card.get("links")
    for link in links if isinstance(links, list) else ():
        url = link.get("url") if isinstance(link, Mapping) else None
        if not isinstance(url, str):
            continue
        parts = urlsplit(url)
        if not parts.path.endswith("/explain"):
            continue
        query = parse_qs(parts.query)
        codes = [(query.get(name) or [""])[0] for name in ("a", "b")]
        if all(code.isdigit() and len(code) <= 12 for code in codes):
            return codes
    return []


def capped_notes(notes: Sequence[str]) -> list[str]:
    kept = [
        note if len(note) <= MAX_NOTE_CHARS else note[: MAX_NOTE_CHARS - 1] + "…"
        for note in (str(n) for n in notes[:MAX_NOTES])
    ]
    if len(notes) > MAX_NOTES:
        kept.append(f"… {len(notes) - MAX_NOTES} more notes not kept")
    return kept


@dataclass(frozen=True, slots=True)
class HookCallRecord:
    """One hook call as the web layer saw it; identifiers in clear and cards whole (the trail
    pseudonymises the one and keeps a hash of the other)."""

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


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
