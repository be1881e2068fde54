"""Which FHIR servers the service connects to (the SSRF findings): a call's `fhirServer` is read
only when the token's issuer lists it, over https, without following redirects or leaving the
base; and every failure reads the same to the caller, so the answers are no port scanner.

Plain TCP listeners on loopback record every connection: a refused server must see none.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service.adapters.fhir_client import FhirClient
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.protocol.fhir_servers import FHIR_UNREADABLE, FhirFetchError, FhirServerPolicy
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.fhir_standin import Fault, FhirStandIn
from cds_service.testing.hook_requests import hook_request, medication_request
from cds_service.testing.rxcui import IBUPROFEN, WARFARIN
from cds_service.testing.served_process import free_port

SIGN_URL = "http://localhost/cds-services/ddi-order-sign"
INCOMPLETE = "Check incomplete: not all current medications could be read"
FHIR_TOKEN = "FHIR-ACCESS-TOKEN-4f1e"
REPLIES = {
    "http404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "redis": b"-ERR unknown command 'GET', with args beginning with: '/fhir/'\r\n",
    "secret": b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nConnection: close\r\n"
    b'Content-Length: 94\r\n\r\n{"resourceType": "INTERNAL-SECRET-7f3a", '
    b'"issue": [{"diagnostics": "INTERNAL-SECRET-7f3a"}]}  ',
}


class Listener:
    """A TCP listener on loopback that records the first bytes of every connection and answers
    each with one of `REPLIES` (an HTTP 404, what Redis says to HTTP, an HTTP 200 with text that
    must never come back to the caller)."""

    def __init__(self, reply: str) -> None:
        self.reply = REPLIES[reply]
        self.connections: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.connections.append(connection.recv(65536))
                    connection.sendall(self.reply)
                except OSError:
                    self.connections.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


@pytest.fixture(scope="module")
def listeners() -> Iterator[dict[str, Listener]]:
    made = {name: Listener(name) for name in REPLIES}
    made["unlisted"] = Listener("http404")
    yield made
    for listener in made.values():
        listener.close()


@pytest.fixture(scope="module")
def standin() -> Iterator[FhirStandIn]:
    with FhirStandIn(tls=True) as served:
        yield served


@pytest.fixture(scope="module")
def closed_port() -> int:
    return free_port()  # nothing listens there once the probe is closed


@pytest.fixture(scope="module")
def listed(standin, listeners, closed_port) -> dict[str, str]:
    """The FHIR bases the test EHR's issuer lists: the stand-in, and bases that fail."""
    return {
        "standin": standin.base_url,
        "404": standin.base_url.removesuffix("/fhir") + "/nothing",
        "closed port": f"https://127.0.0.1:{closed_port}/fhir",
        "redis-like": f"https://127.0.0.1:{listeners['redis'].port}/fhir",
    }


@pytest.fixture(scope="module")
def client(tmp_path_factory, standin, listed):
    folder = tmp_path_factory.mktemp("fhir-trust")
    settings = Settings(
        data_dir=folder / "data",
        trusted_issuers_file=write_trust(folder / "trust", list(listed.values())),
        public_base_url="http://localhost",
        fhir_ca_bundle_file=standin.ca_file,
        model_enabled=False,
    )
    return create_app(settings).test_client()


@pytest.fixture(autouse=True)
def fresh(standin: FhirStandIn, listeners: dict[str, Listener]) -> None:
    standin.reset()
    for listener in listeners.values():
        listener.connections.clear()


def call(client, fhir_server: str, *drafts: str) -> dict:
    body = hook_request(
        "order-sign",
        [medication_request(code, rid=f"d{n}") for n, code in enumerate(drafts or [WARFARIN])],
        fhir_server=fhir_server,
        fhir_token=FHIR_TOKEN,
    )
    response = client.post(
        "/cds-services/ddi-order-sign", json=body, headers=authorization(SIGN_URL)
    )
    assert response.status_code == 200, response.text
    return response.json


def without_ids(value: Any) -> Any:
    """The answer less its uuids (new for every card and suggestion)."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def test_a_listed_https_server_is_read_with_the_token_checked_against_the_ca_bundle(
    client, standin, listed
):
    standin.medication_requests = [medication_request(IBUPROFEN, rid="c1", status="active")]
    answer = call(client, listed["standin"] + "/")  # a trailing slash is the same base
    assert [c["summary"].split(":")[0] for c in answer["cards"]] == ["Warfarin + ibuprofen"]
    assert {r.authorization for r in standin.requests} == {f"Bearer {FHIR_TOKEN}"}


@pytest.mark.parametrize(
    "server",
    [
        "https://127.0.0.1:{unlisted}/fhir",  # a server the token's issuer does not list
        "http://127.0.0.1:{unlisted}/fhir",  # plain http under tokens
        "https://127.0.0.1:{unlisted}/fhir/../fhir-admin/users",
        "https://127.0.0.1:{unlisted}/fhir/%2e%2e/fhir-admin/users",
    ],
    ids=["not listed", "http", "dot segments", "encoded dot segments"],
)
def test_a_refused_server_is_never_connected_to(client, listeners, server):
    answer = call(client, server.format(unlisted=listeners["unlisted"].port), WARFARIN, IBUPROFEN)
    assert listeners["unlisted"].connections == []
    summaries = [c["summary"] for c in answer["cards"]]
    assert summaries[0].startswith("Warfarin + ibuprofen")  # the drafts are still checked
    assert INCOMPLETE in summaries


def test_a_path_escape_from_a_listed_base_is_refused_before_connecting(client, standin, listed):
    call(client, listed["standin"] + "/../fhir-admin/users")
    call(client, listed["standin"] + "/%2E%2E/fhir-admin")
    assert standin.requests == []


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(
    client, standin, listed, listeners
):
    standin.fault = Fault.REDIRECT
    for target in (
        "/fhir/MedicationRequest?again=1",
        f"http://127.0.0.1:{listeners['unlisted'].port}/x",
    ):
        standin.reset()
        standin.fault, standin.redirect_to = Fault.REDIRECT, target
        answer = call(client, listed["standin"])
        assert len(standin.requests) == 1  # the redirect's answer ends it
        assert INCOMPLETE in [c["summary"] for c in answer["cards"]]
    assert listeners["unlisted"].connections == []


def test_every_failure_gives_the_same_answer(client, listed, listeners):
    """Closed port, HTTP 404, a Redis port, a server not listed: one answer, no oracle."""
    answers = {
        reason: without_ids(call(client, listed[reason], WARFARIN, IBUPROFEN))
        for reason in ("closed port", "404", "redis-like")
    }
    unlisted = f"https://127.0.0.1:{listeners['unlisted'].port}/fhir"
    answers["not listed"] = without_ids(call(client, unlisted, WARFARIN, IBUPROFEN))
    first = answers["closed port"]
    assert all(answer == first for answer in answers.values()), answers
    assert FHIR_UNREADABLE in next(
        c["detail"] for c in first["cards"] if c["summary"] == INCOMPLETE
    )
    assert listeners["redis"].connections, "the Redis-like port was tried (it is listed)"


@pytest.fixture(scope="module")
def development(tmp_path_factory):
    """`--no-auth`: any https server, or plain http on loopback."""
    settings = Settings(
        auth_disabled=True, data_dir=tmp_path_factory.mktemp("no-auth"), model_enabled=False
    )
    return create_app(settings).test_client()


def develop(client, fhir_server: str) -> dict:
    body = hook_request(
        "order-sign", [medication_request(WARFARIN, rid="w")], fhir_server=fhir_server
    )
    response = client.post("/cds-services/ddi-order-sign", json=body)
    assert response.status_code == 200, response.text
    return response.json


def test_without_tokens_loopback_http_failures_read_the_same_and_echo_nothing(
    development, listeners, closed_port, caplog
):
    answers = [
        without_ids(develop(development, f"http://127.0.0.1:{port}/fhir"))
        for port in (closed_port, listeners["http404"].port, listeners["redis"].port)
    ]
    secret = develop(development, f"http://127.0.0.1:{listeners['secret'].port}/fhir")
    assert listeners["http404"].connections and listeners["secret"].connections
    assert answers[0] == answers[1] == answers[2] == without_ids(secret)
    assert "INTERNAL-SECRET" not in str(secret)
    assert "answered with another resource type" in caplog.text  # the reason: in the log only


def test_without_tokens_plain_http_elsewhere_is_refused():
    policy = FhirServerPolicy(http_loopback=True)
    policy.check("http://127.0.0.1:8080/fhir")
    policy.check("https://ehr.example.org/fhir")
    for refused in ("http://ehr.example.org/fhir", "http://10.0.0.5/fhir", "ftp://127.0.0.1/x"):
        with pytest.raises(FhirFetchError) as raised:
            policy.check(refused)
        assert str(raised.value) == FHIR_UNREADABLE


def test_an_issuers_bases_are_matched_exactly():
    policy = FhirServerPolicy.of_issuer(("https://ehr.example.org/fhir/",))
    policy.check("https://ehr.example.org/fhir")
    policy.check("https://ehr.example.org/fhir/")
    for other in (
        "https://ehr.example.org/fhir/Patient",
        "https://ehr.example.org/fhir-admin",
        "https://ehr.example.org:8443/fhir",
        "https://ehr.example.org/fhir/./",
        "http://ehr.example.org/fhir",
    ):
        with pytest.raises(FhirFetchError):
            policy.check(other)


@pytest.mark.parametrize(
    "link",
    [
        "../fhir-admin/users",
        "/fhir-admin/users",
        "https://ehr.example.org/fhir-admin/users",
        "%2e%2e/fhir-admin/users",
        "Medication/%2E%2E/%2e%2e/admin",
        "Medication/..%2Fadmin",
        "Medication/%252e%252e/admin",
        "Medication\\..\\admin",
        "//evil.example/fhir/Medication/1",
        "https://ehr.example.org:444/fhir/Medication/1",
        "http://ehr.example.org/fhir/Medication/1",
    ],
)
def test_links_must_stay_under_the_base_by_whole_segments(link):
    client = FhirClient("https://ehr.example.org/fhir")
    with pytest.raises(FhirFetchError):
        client._url(link)


def test_links_under_the_base_are_followed():
    client = FhirClient("https://ehr.example.org/fhir/")
    assert client._url("Medication/m1") == "https://ehr.example.org/fhir/Medication/m1"
    page = "https://ehr.example.org/fhir?_getpages=x&_getpagesoffset=1"
    assert client._url(page) == page


def test_the_ca_bundle_must_exist(tmp_path: Path):
    with pytest.raises(ValueError, match="DDI_CDS_FHIR_CA_BUNDLE_FILE"):
        create_app(
            Settings(
                auth_disabled=True,
                data_dir=tmp_path,
                model_enabled=False,
                fhir_ca_bundle_file=tmp_path / "absent.pem",
            )
        )
