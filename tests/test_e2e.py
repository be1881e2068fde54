"""End to end over real HTTP: `ddi-cds serve` runs as a subprocess, `requests` plays the EHR,
`FhirStandIn` plays the EHR's FHIR server.

One server process serves the module (fixture `served`); the tests that kill or signal a server
start their own. Each server gets DDI_CDS_DATA_DIR in a temporary folder and otherwise its
defaults (the 2 s request deadline bounds the slow-FHIR cases). With EHR tokens required the
service reads only the FHIR servers the token's issuer lists, over https: the stand-in serves
https with a CA of the test's own, given to the service as its FHIR CA bundle. Every 200 answer
of a hook call is validated against the project's response schema.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker

from cds_service.protocol.fhir_servers import FHIR_UNREADABLE
from cds_service.protocol.schemas import load_schema
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.fhir_standin import Fault, FhirStandIn
from cds_service.testing.hook_requests import (
    concept,
    hook_request,
    medication_request,
    null_prefetch,
)
from cds_service.testing.rxcui import IBUPROFEN_200MG, LISINOPRIL, WARFARIN_1MG
from cds_service.testing.served_process import ServerProcess, free_port
from cds_service.testing.served_process import start_server as start

DEADLINE_S = 2.0  # the service's default request deadline
HTTP_TIMEOUT_S = 30.0

OVERRIDE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"

RESPONSE_SCHEMA = Draft202012Validator(load_schema("response"), format_checker=FormatChecker())
DISCOVERY_SCHEMA = Draft202012Validator(load_schema("discovery"), format_checker=FormatChecker())
FEEDBACK_SCHEMA = Draft202012Validator(load_schema("feedback"), format_checker=FormatChecker())


# --- the server process ------------------------------------------------------------------------


Served = ServerProcess


def start_server(
    data_dir: Path, log: Path, fhir_servers: tuple[str, ...] = (), ca_file: Path | None = None
) -> Served:
    """`ddi-cds serve` with EHR tokens required (the test EHR's key is trusted, and may name
    `fhir_servers`, whose certificates `ca_file` signs)."""
    env = {
        "DDI_CDS_TRUSTED_ISSUERS_FILE": str(write_trust(data_dir.parent / "trust", fhir_servers))
    }
    if ca_file is not None:
        env["DDI_CDS_FHIR_CA_BUNDLE_FILE"] = str(ca_file)
    return start(data_dir, no_auth=False, env=env, log=log)


@pytest.fixture(scope="module")
def fhir_standin() -> Iterator[FhirStandIn]:
    with FhirStandIn(stall_s=5 * DEADLINE_S, tls=True) as standin:
        yield standin


@pytest.fixture(scope="module")
def down_fhir_server() -> str:
    """A FHIR base the EHR's issuer lists, on a port nothing listens on."""
    return f"https://127.0.0.1:{free_port()}/fhir"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, fhir_standin: FhirStandIn, down_fhir_server: str
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("e2e")
    server = start_server(
        folder / "data",
        folder / "server.log",
        (fhir_standin.base_url, down_fhir_server),
        fhir_standin.ca_file,
    )
    yield server
    server.kill()


@pytest.fixture
def fhir(fhir_standin: FhirStandIn) -> FhirStandIn:
    fhir_standin.reset()
    return fhir_standin


@pytest.fixture
def token() -> str:
    return f"e2e-token-{uuid.uuid4().hex}"


# --- requests ----------------------------------------------------------------------------------


def warfarin_draft_reading(fhir_server: str, token: str) -> dict:
    """An order-sign call of a warfarin draft whose current medications the service reads from
    `fhir_server`, with the bearer `token`."""
    draft = medication_request(WARFARIN_1MG, rid="draft-warfarin")
    return hook_request("order-sign", [draft], fhir_server=fhir_server, fhir_token=token)


def call(served: Served, body: dict, service_id: str = "ddi-order-sign") -> requests.Response:
    """A hook call; a 200 answer must be a valid CDS Hooks response."""
    url = f"{served.url}/{service_id}"
    response = requests.post(url, json=body, headers=authorization(url), timeout=HTTP_TIMEOUT_S)
    if response.status_code == 200:
        errors = [e.message for e in RESPONSE_SCHEMA.iter_errors(response.json())]
        assert not errors, f"the response breaks the response schema: {errors}"
    return response


def interaction_summaries(response: requests.Response) -> list[str]:
    return [card["summary"] for card in response.json()["cards"]]


# --- discovery and CORS ------------------------------------------------------------------------


def test_discovery_is_valid_and_open_to_other_origins(served: Served):
    response = requests.get(
        served.url, headers={"Origin": "https://ehr.example.org"}, timeout=HTTP_TIMEOUT_S
    )
    assert response.status_code == 200
    document = response.json()
    errors = [e.message for e in DISCOVERY_SCHEMA.iter_errors(document)]
    assert not errors
    assert {s["id"] for s in document["services"]} == {
        "ddi-order-select",
        "ddi-order-sign",
        "ddi-medication-prescribe",
    }
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_the_log_is_plain_json_lines_without_terminal_colours(served: Served):
    """werkzeug colours a request line's status for a terminal; a log pipeline reads JSON."""
    offset = len(served.log_text())
    assert requests.get(f"{served.root}/no-such-page", timeout=HTTP_TIMEOUT_S).status_code == 404
    assert requests.get(served.url, timeout=HTTP_TIMEOUT_S).status_code == 200
    time.sleep(0.2)  # the request line is logged after the answer is sent
    written = served.log_text()[offset:]
    lines = [json.loads(line) for line in written.splitlines()]  # every line is JSON
    assert any("/no-such-page" in line["message"] and "404" in line["message"] for line in lines)
    assert "\x1b" not in written and "\\u001b" not in written


def test_preflight_allows_the_authorization_header(served: Served):
    response = requests.options(
        f"{served.url}/ddi-order-sign",
        headers={
            "Origin": "https://ehr.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=HTTP_TIMEOUT_S,
    )
    assert response.status_code == 204
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- fetching from the FHIR server -------------------------------------------------------------


def test_current_medications_are_fetched_with_the_token_and_paged(
    served: Served, fhir: FhirStandIn, token: str
):
    fhir.page_size = 1
    fhir.medication_requests = [
        medication_request(LISINOPRIL, rid="current-lisinopril", status="active"),
        medication_request(IBUPROFEN_200MG, rid="current-ibuprofen", status="active"),  # on page 2
    ]
    body = warfarin_draft_reading(fhir.base_url, token)

    response = call(served, body)

    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert len(cards) == 1, interaction_summaries(response)
    assert cards[0]["summary"].startswith("Warfarin + ibuprofen")
    assert "MedicationRequest/current-ibuprofen" in cards[0]["detail"]
    seen = fhir.requests
    paths = [r.path for r in seen]
    assert paths[0] == "/fhir/MedicationRequest?patient=p1&status=active"
    assert "/fhir?_getpages=MedicationRequest&_getpagesoffset=1&_count=1" in paths  # next link
    assert "/fhir/MedicationStatement?patient=p1&status=active" in paths
    assert len(seen) == 3
    assert all(r.authorization == f"Bearer {token}" for r in seen)
    assert token not in response.text
    assert token not in served.log_text()


def test_a_search_longer_than_the_page_limit_is_checked_in_part_and_said_so(
    served: Served, fhir: FhirStandIn, token: str
):
    fhir.page_size = 1
    fhir.medication_requests = [
        # page 1: read
        medication_request(IBUPROFEN_200MG, rid="current-ibuprofen", status="active"),
        *[medication_request(LISINOPRIL, rid=f"current-{n}", status="active") for n in range(10)],
    ]
    body = warfarin_draft_reading(fhir.base_url, token)

    response = call(served, body)

    assert response.status_code == 200, response.text
    summaries = [card["summary"] for card in response.json()["cards"]]
    assert summaries[0].startswith("Warfarin + ibuprofen")
    assert "Check incomplete: not all current medications could be read" in summaries
    assert "more MedicationRequest pages than the 10" in response.text
    assert len([r for r in fhir.requests if "MedicationRequest" in r.path]) == 10


def test_referenced_medication_is_read_from_the_fhir_server(
    served: Served, fhir: FhirStandIn, token: str
):
    fhir.medications["med1"] = {
        "resourceType": "Medication",
        "id": "med1",
        "code": concept(WARFARIN_1MG),
    }
    draft = medication_request(
        None, rid="draft-warfarin", medicationReference={"reference": "Medication/med1"}
    )
    current = medication_request(IBUPROFEN_200MG, rid="current-ibuprofen", status="active")
    body = hook_request(
        "order-sign", [draft], current=[current], fhir_server=fhir.base_url, fhir_token=token
    )

    response = call(served, body)

    assert response.status_code == 200, response.text
    assert [s.split(":")[0] for s in interaction_summaries(response)] == ["Warfarin + ibuprofen"]
    assert [(r.path, r.authorization) for r in fhir.requests] == [
        ("/fhir/Medication/med1", f"Bearer {token}")
    ]


def unreadable_card(response: requests.Response) -> dict:
    """The fail-open card: the same text whatever went wrong with the FHIR server."""
    cards = response.json()["cards"]
    (card,) = [c for c in cards if c["summary"].startswith("Check incomplete")]
    assert card["summary"] == "Check incomplete: not all current medications could be read"
    assert FHIR_UNREADABLE in card["detail"]
    return card


@pytest.mark.parametrize(
    "fault", [Fault.UNAUTHORIZED, Fault.SERVER_ERROR, Fault.GARBAGE], ids=["401", "500", "garbage"]
)
def test_unfetchable_current_medications_fail_open_with_one_text(
    served: Served, fhir: FhirStandIn, token: str, fault: Fault
):
    """The drafts are still checked among themselves; the card does not say what the server
    answered (that would make the service a probe of the networks it reaches): the log does."""
    fhir.fault = fault
    fhir.medication_requests = [medication_request(IBUPROFEN_200MG, rid="c1", status="active")]
    body = warfarin_draft_reading(fhir.base_url, token)
    log_offset = served.log.stat().st_size

    started = time.monotonic()
    response = call(served, body)
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    card = unreadable_card(response)
    assert str(fault.value) not in card["detail"]
    assert token not in response.text
    assert token not in served.log_text()
    assert fhir.requests, "the stand-in was never asked"
    assert fhir.requests[0].authorization == f"Bearer {token}"
    assert elapsed < DEADLINE_S
    assert "FHIR server https://127.0.0.1" in served.log_since(log_offset)


def test_a_fhir_server_that_is_down_fails_open_at_once_with_the_same_text(
    served: Served, down_fhir_server: str, token: str
):
    body = warfarin_draft_reading(down_fhir_server, token)

    started = time.monotonic()
    response = call(served, body)

    assert response.status_code == 200, response.text
    unreadable_card(response)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("fault", [Fault.STALL, Fault.TRICKLE], ids=["stall", "trickle"])
def test_slow_fhir_server_gets_a_partial_answer_within_the_deadline(
    served: Served, fhir: FhirStandIn, token: str, fault: Fault
):
    """Fail-open: the drafts are still checked against each other, and a card says the current
    medications were not read in time; never a timeout at the EHR."""
    fhir.fault = fault
    fhir.medication_requests = [medication_request(IBUPROFEN_200MG, rid="c1", status="active")] * 40
    body = hook_request(
        "order-sign",
        [
            medication_request(WARFARIN_1MG, rid="draft-warfarin"),
            medication_request(IBUPROFEN_200MG, rid="draft-ibuprofen"),
        ],
        fhir_server=fhir.base_url,
        fhir_token=token,
    )

    started = time.monotonic()
    response = call(served, body)
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    summaries = [card["summary"] for card in response.json()["cards"]]
    assert any(s.startswith("Warfarin + ibuprofen") for s in summaries), summaries
    unreadable_card(response)
    assert elapsed < DEADLINE_S + 0.5, f"a slow FHIR server held the call {elapsed:.2f} s"
    assert token not in served.log_text()


def test_null_prefetch_means_nothing_is_fetched(served: Served, fhir: FhirStandIn, token: str):
    body = hook_request(
        "order-sign",
        [
            medication_request(WARFARIN_1MG, rid="draft-warfarin"),
            medication_request(IBUPROFEN_200MG, rid="draft-ibuprofen"),
        ],
        prefetch=null_prefetch(),
        fhir_server=fhir.base_url,
        fhir_token=token,
    )

    response = call(served, body)

    assert response.status_code == 200, response.text
    assert [s.split(":")[0] for s in interaction_summaries(response)] == ["Warfarin + ibuprofen"]
    assert fhir.requests == []


# --- feedback survives a crash -----------------------------------------------------------------


@pytest.mark.slow  # starts, kills and restarts the server
def test_acknowledged_feedback_survives_sigkill(tmp_path: Path):
    data_dir = tmp_path / "data"
    first = start_server(data_dir, tmp_path / "first.log")
    try:
        body = hook_request(
            "order-sign",
            [
                medication_request(WARFARIN_1MG, rid="draft-warfarin"),
                medication_request(IBUPROFEN_200MG, rid="draft-ibuprofen"),
            ],
            prefetch=null_prefetch(),
        )
        hook = call(first, body)
        assert hook.status_code == 200, hook.text
        card_id = hook.json()["cards"][0]["uuid"]
        item = {
            "card": card_id,
            "outcome": "overridden",
            "overrideReason": {
                "reason": {
                    "system": OVERRIDE_SYSTEM,
                    "code": "risk-benefit-ratio",
                    "display": "Recipient assessment of risk/benefit ratio",
                },
                "userComment": "short course, INR checked in 3 days",
            },
            "outcomeTimestamp": "2026-11-22T10:00:00Z",
        }
        feedback = {"feedback": [item]}
        assert not list(FEEDBACK_SCHEMA.iter_errors(feedback))

        url = f"{first.url}/ddi-order-sign/feedback"
        answer = requests.post(
            url, json=feedback, headers=authorization(url), timeout=HTTP_TIMEOUT_S
        )
        first.process.send_signal(signal.SIGKILL)  # right after the 200

        assert answer.status_code == 200, answer.text
        assert answer.json() == {}
    finally:
        first.kill()
    assert first.process.returncode == -signal.SIGKILL

    second = start_server(data_dir, tmp_path / "second.log")
    try:
        db = sqlite3.connect(data_dir / "feedback.sqlite")
        try:
            rows = db.execute(
                "SELECT service_id, card, outcome, outcome_timestamp, record FROM feedback"
            ).fetchall()
        finally:
            db.close()
        assert len(rows) == 1
        service_id, card, outcome, timestamp, record = rows[0]
        assert (service_id, card, outcome, timestamp) == (
            "ddi-order-sign",
            card_id,
            "overridden",
            "2026-11-22T10:00:00Z",
        )
        assert json.loads(record) == item
        # and the restarted server still appends to the same store
        url = f"{second.url}/ddi-order-sign/feedback"
        again = requests.post(
            url, json=feedback, headers=authorization(url), timeout=HTTP_TIMEOUT_S
        )
        assert again.status_code == 200, again.text
    finally:
        second.kill()


# --- stopping ----------------------------------------------------------------------------------


@pytest.mark.slow  # waits for a graceful stop
def test_sigterm_stops_the_server(tmp_path: Path):
    """Kubernetes and systemd stop a service with SIGTERM; it must exit, not hang."""
    server = start_server(tmp_path / "data", tmp_path / "server.log")
    try:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("ddi-cds serve was still running 5 s after SIGTERM")
    finally:
        server.kill()
