"""Bad, odd and oversized requests against the real app (Flask test client): each gets the answer
docs/bad-requests.md records, an OperationOutcome for every error, and never a 500.

The rows of the table in docs/bad-requests.md are exactly the cases here (checked below), and
the table is measured, not written by hand:

    .venv/bin/python -m tests.test_bad_requests                  # through the Flask test client
    .venv/bin/python -m tests.test_bad_requests --url http://127.0.0.1:8080   # a running server
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.protocol.schemas import load_schema
from cds_service.testing.hook_requests import (
    RXNORM,
    bundle,
    fhir_authorization,
    hook_request,
    medication_request,
    null_prefetch,
)
from cds_service.testing.rxcui import (
    CYCLOSPORINE,
    DIGOXIN,
    IBUPROFEN_200MG,
    LISINOPRIL,
    UNKNOWN_RXCUI,
    WARFARIN_1MG,
)
from tests.conftest import ROOT

DOC = ROOT / "docs" / "bad-requests.md"
SIGN = "/cds-services/ddi-order-sign"
SELECT = "/cds-services/ddi-order-select"
FEEDBACK = "/cds-services/ddi-order-sign/feedback"
JSON = "application/json"
MAX_BODY = Settings().max_body_bytes
MAX_MEDICATIONS = Settings().max_medications

# lisinopril interacts with ibuprofen, not with warfarin
DRAFT_CODES = (WARFARIN_1MG, IBUPROFEN_200MG, LISINOPRIL, DIGOXIN, CYCLOSPORINE)
# A medication left out must not go unmentioned: the interaction card, or words saying so
SHOWN_OR_SAID = "Not all medications were checked"
CARD_UUID = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
RESPONSE_SCHEMA = Draft202012Validator(load_schema("response"), format_checker=FormatChecker())


# --- request builders --------------------------------------------------------------------------


def hook_body(
    drafts: list[dict] | None = None, hook: Any = "order-sign", **changes: Any
) -> dict[str, Any]:
    """A valid order-sign (or order-select) call, a warfarin draft and a null prefetch;
    `changes` as `hook_request`'s (top-level fields set, or dropped with `...`)."""
    if drafts is None:
        drafts = [medication_request(WARFARIN_1MG, rid="draft-warfarin")]
    return hook_request(hook, drafts, **{"prefetch": null_prefetch(), **changes})


def with_context(**changes: Any) -> dict[str, Any]:
    body = hook_body()
    body["context"].update(changes)
    return body


def order_select_body(selections: Any) -> dict[str, Any]:
    body = hook_body(hook="order-select")
    body["context"]["selections"] = selections
    return body


def feedback_body(**item: Any) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": CARD_UUID,
                "outcomeTimestamp": "2026-11-22T10:00:00Z",
                **item,
            }
        ]
    }


def as_json(value: Any) -> Callable[[], bytes]:
    return lambda: json.dumps(value).encode()


def wrong_fhir() -> bytes:
    draft = medication_request(WARFARIN_1MG, rid="draft-warfarin")
    draft["medicationCodeableConcept"] = "warfarin 1 mg tablet"
    return json.dumps(hook_body([draft])).encode()


def current_medications_call(count: int, note_chars: int = 0) -> dict[str, Any]:
    """A warfarin draft and `count` current MedicationRequests, the last one ibuprofen (the
    only one that interacts), each padded with a note of about `note_chars` characters."""
    note = ("Taken with food; patient reports good tolerance. " * (1 + note_chars // 50))[
        :note_chars
    ]
    current = [
        medication_request(
            IBUPROFEN_200MG if n == count - 1 else LISINOPRIL,
            rid=f"current-{n}",
            status="active",
            note=[{"text": f"{n}: {note}"}],
            dosageInstruction=[{"text": "one tablet by mouth once a day", "sequence": 1}],
        )
        for n in range(count)
    ]
    body = hook_body()
    body["prefetch"] = {
        "medicationRequests": bundle(current, "searchset"),
        "medicationStatements": None,
    }
    return body


def one_megabyte_prefetch() -> bytes:
    """299 current MedicationRequests of ~3 kB each: just under the 1 MiB body limit, within
    max_medications (300)."""
    return json.dumps(current_medications_call(MAX_MEDICATIONS - 1, 3_000)).encode()


def five_megabyte_prefetch() -> bytes:
    """999 current MedicationRequests of ~5 kB each: ~5 MB, past the body limit."""
    return json.dumps(current_medications_call(999, 4_700)).encode()


def current_over_the_limit() -> bytes:
    """300 current MedicationRequests + 1 draft: one more than max_medications."""
    return json.dumps(current_medications_call(MAX_MEDICATIONS)).encode()


def thousand_drafts() -> bytes:
    drafts = [
        medication_request(DRAFT_CODES[n % len(DRAFT_CODES)], rid=f"draft-{n}") for n in range(1000)
    ]
    return json.dumps(hook_body(drafts)).encode()


def drafts_over_the_limit() -> bytes:
    """300 warfarin drafts and an ibuprofen draft after them: one more than max_medications."""
    drafts = [medication_request(WARFARIN_1MG, rid=f"draft-{n}") for n in range(MAX_MEDICATIONS)]
    drafts.append(medication_request(IBUPROFEN_200MG, rid="draft-ibuprofen"))
    return json.dumps(hook_body(drafts)).encode()


def over_the_limit() -> bytes:
    body = json.dumps(hook_body(padding="")).encode()
    return body.replace(b'"padding": ""', b'"padding": "' + b"x" * MAX_BODY + b'"')


def deeply_nested() -> bytes:
    depth = 100_000
    return b'{"hook": "order-sign", "hookInstance": "x", "context": ' + (
        b"[" * depth + b"]" * depth + b"}"
    )


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    tried: str  # the request, in words (the doc's first column)
    status: int
    # a distinctive part of the answer (the diagnostics, or a card's summary); a tuple: any one
    expect: str | tuple[str, ...]
    body: Callable[[], bytes] = field(default=lambda: b"")
    method: str = "POST"
    path: str = SIGN
    content_type: str | None = JSON


CASES: tuple[Case, ...] = (
    Case(
        "not-json",
        'body is not JSON (`{"hook": "order-sign", "hookInstance": `, cut short)',
        400,
        "the request body is not valid JSON",
        lambda: b'{"hook": "order-sign", "hookInstance": ',
    ),
    Case("empty-body", "empty body", 400, "the request body is empty"),
    Case(
        "not-utf8",
        "body bytes that are not UTF-8 (Latin-1 `é` inside a string)",
        400,
        "not UTF-8",
        lambda: b'{"hook": "order-sign", "hookInstance": "caf\xe9"}',
    ),
    Case(
        "lone-surrogate",
        "`context.patientId` holds a lone UTF-16 surrogate escape (`\\ud800`): valid JSON, "
        "not storable text",
        400,
        "not valid Unicode",
        lambda: json.dumps(with_context(patientId="p\ud800")).encode(),
    ),
    Case(
        "nan-number",
        "a number written `NaN` (Python's JSON reader would accept it)",
        400,
        "NaN is not a JSON number",
        lambda: b'{"hook": NaN}',
    ),
    Case(
        "number-out-of-range",
        "a number `1e999999` (infinite as a float)",
        400,
        "out of range",
        lambda: b'{"hook": 1e999999}',
    ),
    Case(
        "integer-5000-digits",
        "an integer of 5,000 digits (beyond Python's conversion limit)",
        400,
        "Exceeds the limit",
        lambda: b'{"hook": ' + b"9" * 5000 + b"}",
    ),
    Case(
        "hookinstance-control",
        "`hookInstance` is a NUL character",
        400,
        "hookInstance holds control characters",
        as_json(hook_body(hookInstance="\u0000")),
    ),
    Case(
        "contained-unknown-type",
        "a draft whose `contained` holds a resource of an unknown type (`Foo`)",
        200,
        "Warfarin + ibuprofen",
        as_json(
            hook_body(
                [
                    medication_request(
                        WARFARIN_1MG, rid="draft-warfarin", contained=[{"resourceType": "Foo"}]
                    ),
                    medication_request(IBUPROFEN_200MG, rid="draft-ibuprofen"),
                ]
            )
        ),
    ),
    Case(
        "coding-system-list",
        "a coding whose `system` is a list, beside a good RxNorm coding",
        200,
        "Warfarin + ibuprofen",
        as_json(
            hook_body(
                [
                    medication_request(
                        WARFARIN_1MG,
                        rid="draft-warfarin",
                        medicationCodeableConcept={
                            "coding": [
                                {"system": [], "code": "x"},
                                {"system": RXNORM, "code": WARFARIN_1MG},
                            ]
                        },
                    ),
                    medication_request(IBUPROFEN_200MG, rid="draft-ibuprofen"),
                ]
            )
        ),
    ),
    Case(
        "json-array",
        "a JSON array holding a valid call, instead of the call",
        400,
        "must be a JSON object, not a list",
        as_json([hook_body()]),
    ),
    Case(
        "json-null",
        "the JSON `null`",
        400,
        "must be a JSON object, not missing or null",
        as_json(None),
    ),
    Case(
        "hook-number",
        "`hook` is a number (42)",
        400,
        "hook must be a non-empty string",
        as_json(hook_body(hook=42)),
    ),
    Case(
        "context-string",
        '`context` is a string ("p1")',
        400,
        "context must be a JSON object, not a string",
        as_json(hook_body(context="p1")),
    ),
    Case(
        "draftorders-string",
        "`context.draftOrders` is a string",
        400,
        "context.draftOrders must be a FHIR Bundle, not a string",
        as_json(with_context(draftOrders="MedicationRequest/draft-warfarin")),
    ),
    Case(
        "selections-not-list",
        "order-select with `context.selections` a string, not a list",
        400,
        "context.selections must be a list of references",
        as_json(order_select_body("MedicationRequest/draft-warfarin")),
        path=SELECT,
    ),
    Case(
        "missing-context",
        "no `context`",
        400,
        "context must be a JSON object, not missing or null",
        as_json(hook_body(context=...)),
    ),
    Case(
        "missing-hookinstance",
        "no `hookInstance`",
        400,
        "hookInstance must be a non-empty string, not missing or null",
        as_json(hook_body(hookInstance=...)),
    ),
    Case(
        "hook-mismatch",
        '`hook` "order-select" sent to the order-sign service',
        400,
        "answers the 'order-sign' hook, not 'order-select'",
        as_json(hook_body(hook="order-select")),
    ),
    Case(
        "authorization-without-server",
        "`fhirAuthorization` without `fhirServer`",
        400,
        "fhirAuthorization was sent without fhirServer (cds-r-1)",
        as_json(hook_body(fhirAuthorization=fhir_authorization("secret-token-value"))),
    ),
    Case(
        "unknown-service",
        "POST to an unknown service id (`/cds-services/ddi-nope`)",
        404,
        "no CDS service 'ddi-nope'",
        as_json(hook_body()),
        path="/cds-services/ddi-nope",
    ),
    Case(
        "unknown-endpoint",
        "GET `/nope` (no such endpoint)",
        404,
        "no such endpoint",
        method="GET",
        path="/nope",
        content_type=None,
    ),
    Case(
        "unknown-code",
        f"a draft with an RxNorm code that does not exist ({UNKNOWN_RXCUI})",
        200,
        "1 medication could not be checked",
        as_json(hook_body([medication_request(UNKNOWN_RXCUI, rid="draft-x")])),
    ),
    Case(
        "wrong-fhir",
        "a MedicationRequest whose `medicationCodeableConcept` is a string",
        200,
        "1 medication could not be checked",
        wrong_fhir,
    ),
    Case(
        "bundle-1mb",
        "~1 MB prefetch: 299 current MedicationRequests of ~3 kB (the last one ibuprofen) + a "
        "warfarin draft",
        200,
        "Warfarin + ibuprofen",
        one_megabyte_prefetch,
    ),
    Case(
        "bundle-5mb",
        "~5 MB prefetch: 999 current MedicationRequests of ~5 kB + a warfarin draft",
        413,
        "larger than this service accepts",
        five_megabyte_prefetch,
    ),
    Case(
        "current-over-limit",
        "300 current MedicationRequests (the last one ibuprofen) + a warfarin draft: 301 "
        "medications, max_medications is 300",
        200,
        SHOWN_OR_SAID,
        current_over_the_limit,
    ),
    Case(
        "drafts-1000",
        "1,000 draft orders (warfarin, ibuprofen, lisinopril, digoxin, cyclosporine in turn)",
        200,
        "Warfarin + ibuprofen",
        thousand_drafts,
    ),
    Case(
        "drafts-over-limit",
        "301 draft orders: 300 warfarin, then one ibuprofen",
        200,
        SHOWN_OR_SAID,
        drafts_over_the_limit,
    ),
    Case(
        "body-over-limit",
        f"a body of {MAX_BODY + 100:,} bytes, over the 1 MiB limit",
        413,
        "the request body is larger than this service accepts",
        over_the_limit,
    ),
    Case(
        "nested-100k",
        "JSON nested 100,000 levels deep (inside `context`)",
        400,
        "nested more than 64 levels deep",
        deeply_nested,
    ),
    Case(
        "text-plain",
        "a valid call sent as `Content-Type: text/plain`",
        415,
        "the body must be JSON (application/json), not text/plain",
        as_json(hook_body()),
        content_type="text/plain",
    ),
    Case(
        "feedback-outcome-maybe",
        'feedback with `outcome` "maybe"',
        400,
        "outcome must be 'accepted' or 'overridden' (cds-fb-1)",
        as_json(feedback_body(outcome="maybe")),
        path=FEEDBACK,
    ),
    Case(
        "feedback-accepted-without-suggestions",
        'feedback `outcome` "accepted" without `acceptedSuggestions`',
        400,
        "an accepted card needs acceptedSuggestions (cds-fb-2)",
        as_json(feedback_body(outcome="accepted")),
        path=FEEDBACK,
    ),
    Case(
        "get-post-only",
        "GET on the POST-only hook endpoint `/cds-services/ddi-order-sign`",
        405,
        "this method is not allowed on this endpoint",
        method="GET",
        content_type=None,
    ),
)
SLOW_CASES = {  # seconds allowed on a 2-core CI runner
    "bundle-1mb": 5.0,
    "current-over-limit": 5.0,
    "drafts-1000": 5.0,
    "drafts-over-limit": 5.0,
}


# --- tests -------------------------------------------------------------------------------------


# (method, path, body, headers) -> (status, response body); the Flask test client or HTTP
Transport = Callable[[str, str, bytes, dict[str, str]], tuple[int, bytes]]


def flask_transport(app: Flask) -> Transport:
    client = app.test_client()

    def send(method: str, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = client.open(path, method=method, data=data, headers=headers)
        return response.status_code, response.get_data()

    return send


def http_transport(root: str) -> Transport:
    import requests

    def send(method: str, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = requests.request(
            method, root.rstrip("/") + path, data=data, headers=headers, timeout=120
        )
        return response.status_code, response.content

    return send


@pytest.fixture(scope="module")
def transport(tmp_path_factory: pytest.TempPathFactory) -> Transport:
    return flask_transport(
        create_app(Settings(auth_disabled=True, data_dir=tmp_path_factory.mktemp("bad-requests")))
    )


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or the text if it is not JSON
    seconds: float  # the call only, not the building of the request


def send(transport: Transport, case: Case) -> Answer:
    data = case.body()
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    started = time.perf_counter()
    status, raw = transport(case.method, case.path, data, headers)
    seconds = time.perf_counter() - started
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode(errors="replace")
    return Answer(status, body, seconds)


def gist(answer: Answer) -> str:
    """The answer in a line: the diagnostics of an error, the card summaries of a 200."""
    body = answer.body
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return body["issue"][0]["diagnostics"]
    if isinstance(body, dict) and isinstance(body.get("cards"), list):
        summaries = [card["summary"] for card in body["cards"]]
        return f"{len(summaries)} card(s): " + " / ".join(summaries)
    return repr(body)[:200]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_answer(transport: Transport, case: Case):
    answer = send(transport, case)

    assert answer.status == case.status, gist(answer)
    expected = (case.expect,) if isinstance(case.expect, str) else case.expect
    assert any(text in gist(answer) for text in expected), gist(answer)
    body = answer.body
    if case.status >= 400:
        assert body["resourceType"] == "OperationOutcome"
        (issue,) = body["issue"]
        assert issue["severity"] == "error"
        assert issue["code"]
    else:
        assert isinstance(body, dict)
        assert set(body) == {"cards"}
        errors = [e.message for e in RESPONSE_SCHEMA.iter_errors(body)]
        assert not errors, f"the answer breaks the response schema: {errors}"
    assert "secret-token-value" not in json.dumps(body)
    if case.id in SLOW_CASES:
        assert answer.seconds < SLOW_CASES[case.id], f"{case.id} took {answer.seconds:.1f} s"


def test_the_large_cases_are_the_sizes_they_say():
    assert 0.9 * 2**20 < len(one_megabyte_prefetch()) < Settings().max_body_bytes
    assert 4.8e6 < len(five_megabyte_prefetch()) < 5.2e6


def doc_rows(text: str) -> dict[str, str]:
    """`case id` -> answer cell, for every row of the table in docs/bad-requests.md."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if not line.startswith("|") or len(cells) < 3 or set(cells[0]) <= {"-", ":", " "}:
            continue
        if cells[0].lower() == "case":
            continue
        match = re.fullmatch(r"`([a-z0-9-]+)`", cells[0])
        assert match, f"a table row without a `case-id` in its first cell: {line}"
        rows[match.group(1)] = cells[2]
    return rows


def test_doc_table_matches_the_cases():
    rows = doc_rows(DOC.read_text(encoding="utf-8"))
    assert set(rows) == {c.id for c in CASES}
    for case in CASES:
        assert rows[case.id].startswith(f"**{case.status}**"), (case.id, rows[case.id])


# --- the table, measured -----------------------------------------------------------------------


def table(transport: Transport) -> str:
    lines = [
        "| case | request tried | answer (status — message gist) | time |",
        "|---|---|---|---:|",
    ]
    for case in CASES:
        answer = send(transport, case)
        text = gist(answer).replace("|", "\\|")
        if len(text) > 220:
            text = text[:219] + "…"
        ms = answer.seconds * 1000
        shown = f"{ms:.1f}" if ms < 10 else f"{ms:,.0f}"
        lines.append(f"| `{case.id}` | {case.tried} | **{answer.status}** — {text} | {shown} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="measure the bad-requests table")
    parser.add_argument("--url", help="a running server's root, e.g. http://127.0.0.1:8080")
    args = parser.parse_args(argv)
    if args.url:
        print(table(http_transport(args.url)))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        print(
            table(flask_transport(create_app(Settings(auth_disabled=True, data_dir=Path(folder)))))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
