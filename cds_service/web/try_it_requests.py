"""The try-it page's clinical half: what a person typed, turned into the CDS Hooks request an EHR
would send. Pure: no Flask, no index; the page sends the request through the same engine as a
hook call, so the cards shown are the cards an EHR would get.

Each medication line is read as, in this order:
- a pick from the autocomplete, "warfarin [RxNorm 11289]": that RxNorm code, with the name
  as its display;
- "RxNorm 11289" or a bare RXCUI (1-9 digits): an RxNorm coding;
- an NDC, dashed (0093-1712-01) or 10-11 digits: an NDC coding;
- anything else: free text (`medicationCodeableConcept.text`), which the service maps by name.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from cds_service.core.codes import NDC_SYSTEM, RXNORM_SYSTEM, is_rxcui, looks_like_ndc
from cds_service.protocol.services import ORDER_SIGN

TRY_IT_PATIENT = "try-it-patient"  # synthetic: the page never carries a real patient
MAX_ENTRIES = 40
MAX_TEXT = 200

Role = Literal["new", "current"]
_PICKED = re.compile(r"(?P<name>.*?)\s*\[RxNorm (?P<code>[1-9][0-9]{0,9})\]\s*")
_PREFIX = re.compile(r"(?P<system>rxnorm|ndc)\s*:?\s*", re.IGNORECASE)  # "RxNorm: 855288"


class EntryError(ValueError):
    """A form that cannot be turned into a request; the message says which line and why."""


@dataclass(frozen=True, slots=True)
class Entry:
    text: str
    role: Role


def picked_label(name: str, rxcui: str) -> str:
    """What the autocomplete puts in the box; `concept` reads it back exactly."""
    return f"{name} [RxNorm {rxcui}]"


def concept(text: str) -> dict[str, Any]:
    """The medicationCodeableConcept for one line of the form."""
    text = text.strip()
    if picked := _PICKED.fullmatch(text):
        name = picked["name"].strip()
        coding = {"system": RXNORM_SYSTEM, "code": picked["code"]}
        return {"coding": [{**coding, "display": name}] if name else [coding], "text": name or text}
    prefix = _PREFIX.match(text)
    code = text[prefix.end() :] if prefix else text
    said = prefix["system"].lower() if prefix else None
    if said != "rxnorm" and looks_like_ndc(code):
        return {"coding": [{"system": NDC_SYSTEM, "code": code}], "text": text}
    if said != "ndc" and is_rxcui(code):
        return {"coding": [{"system": RXNORM_SYSTEM, "code": code}], "text": text}
    return {"text": text}


def entries_from_form(texts: list[str], roles: list[str]) -> list[Entry]:
    """Pair each typed line with its role, dropping blank lines; refuses what no EHR would send."""
    if len(texts) != len(roles):
        raise EntryError("each medication needs its own 'new order' or 'current' choice")
    entries = []
    for line, (text, role) in enumerate(zip(texts, roles, strict=True), start=1):
        text = text.strip()
        if not text:
            continue
        if role not in ("new", "current"):
            raise EntryError(f"line {line}: choose 'new order' or 'current', not {role[:20]!r}")
        if len(text) > MAX_TEXT:
            raise EntryError(f"line {line}: a medication is at most {MAX_TEXT} characters")
        entries.append(Entry(text, role))  # type: ignore[arg-type]
    if len(entries) > MAX_ENTRIES:
        raise EntryError(f"at most {MAX_ENTRIES} medications at a time")
    if not any(e.role == "new" for e in entries):
        raise EntryError("mark at least one medication as a new order: only new orders are checked")
    return entries


def order_sign_request(entries: list[Entry]) -> dict[str, Any]:
    """An order-sign call: the new orders as drafts, the current ones in the prefetch."""

    def request(index: int, entry: Entry) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": f"{'draft' if entry.role == 'new' else 'active'}-{index + 1}",
            "status": "draft" if entry.role == "new" else "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{TRY_IT_PATIENT}"},
            "medicationCodeableConcept": concept(entry.text),
        }

    def bundle(
        kind: str, resources: list[dict[str, Any]]
    ) -> dict[str, Any]:  # FHIR JSON has no empty arrays
        entries = [{"resource": r} for r in resources]
        return {"resourceType": "Bundle", "type": kind, **({"entry": entries} if entries else {})}

    drafts = [request(i, e) for i, e in enumerate(entries) if e.role == "new"]
    current = [request(i, e) for i, e in enumerate(entries) if e.role == "current"]
    return {
        "hook": ORDER_SIGN,
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/try-it",
            "patientId": TRY_IT_PATIENT,
            "draftOrders": bundle("collection", drafts),
        },
        "prefetch": {
            "medicationRequests": bundle("searchset", current),
            "medicationStatements": bundle("searchset", []),
        },
    }
