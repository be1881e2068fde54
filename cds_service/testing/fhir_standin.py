"""A FHIR server stand-in on loopback, for tests that need the service to fetch over HTTP.

Standard library only: a `ThreadingHTTPServer` on 127.0.0.1, port 0 (the kernel picks a free
port), served from a background thread. What it answers is configured per test on the object:

* searches ``MedicationRequest?...`` and ``MedicationStatement?...`` answer a ``searchset``
  Bundle of ``medication_requests`` / ``medication_statements``, ``page_size`` entries a page;
  when there are more, the Bundle has a ``next`` link to the following page on this server,
  in HAPI's shape (``<base>?_getpages=<type>&_getpagesoffset=<n>&_count=<page_size>``);
* reads ``Medication/<id>`` answer ``medications[id]`` (404 with an OperationOutcome if absent);
* ``fault`` makes every request fail in one way: 401, 500, a 200 whose body is not JSON, or a
  stall (no answer for ``stall_s`` seconds, longer than the client's read timeout), or a
  trickle (the normal answer, one byte every ``trickle_interval_s``: each wait is short, the
  whole is far too slow), or a redirect (302 to ``redirect_to``).

``FhirStandIn(tls=True)`` serves https with a certificate made for the run by a CA of its own
(`cryptography`); ``ca_file`` is that CA's certificate, to give the service as its FHIR CA
bundle (``DDI_CDS_FHIR_CA_BUNDLE_FILE``): with EHR tokens required the service reads https only.

Every request is recorded (path with query, Authorization header) in ``requests``, so a test
can assert that the bearer token was sent and which pages were followed.

    with FhirStandIn(page_size=1) as fhir:
        fhir.medication_requests = [ibuprofen_request]
        ...  # call the service with fhirServer=fhir.base_url
        assert fhir.requests[0].authorization == "Bearer secret"
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cds_service.testing.tls_certificates import certificates, server_context

FHIR_JSON = "application/fhir+json"
BASE_PATH = "/fhir"
SEARCHABLE = ("MedicationRequest", "MedicationStatement")


class Fault(Enum):
    """How the stand-in misbehaves when `FhirStandIn.fault` is set."""

    UNAUTHORIZED = "401"  # HTTP 401 with an OperationOutcome
    SERVER_ERROR = "500"  # HTTP 500 with an OperationOutcome
    GARBAGE = "garbage"  # HTTP 200, Content-Type FHIR JSON, a body that is not JSON
    STALL = "stall"  # no answer for `stall_s` seconds, then the normal answer
    TRICKLE = "trickle"  # the normal answer, a byte at a time
    REDIRECT = "redirect"  # HTTP 302 to `redirect_to`


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # path and query as requested, e.g. "/fhir/MedicationRequest?patient=p1"
    authorization: str | None  # the Authorization header, verbatim


class FhirStandIn:
    """A FHIR server stand-in; use as a context manager (starts on enter, stops on exit)."""

    def __init__(
        self,
        *,
        page_size: int = 50,
        stall_s: float = 5.0,
        trickle_interval_s: float = 0.05,
        tls: bool = False,
    ) -> None:
        self.tls = tls
        self.page_size = page_size
        self.stall_s = stall_s
        self.trickle_interval_s = trickle_interval_s
        self.medication_requests: list[dict[str, Any]] = []
        self.medication_statements: list[dict[str, Any]] = []
        self.medications: dict[str, dict[str, Any]] = {}  # Medication id -> resource
        self.fault: Fault | None = None
        self.redirect_to = BASE_PATH + "/MedicationRequest?redirected=1"  # Fault.REDIRECT
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FhirStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        if self.tls:
            self._server.tls = server_context()
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fhir-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FhirStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests read and reset -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The FHIR base URL to give the service as `fhirServer` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the FHIR stand-in is not started")
        port = self._server.server_port  # bound to 127.0.0.1 (start)
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}{BASE_PATH}"

    @property
    def ca_file(self) -> Path:
        """The PEM certificate of the CA that signed the https stand-ins' certificate."""
        return certificates()[0]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order of arrival."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget the recorded requests, the configured resources and the fault."""
        with self._lock:
            self._requests.clear()
        self.medication_requests = []
        self.medication_statements = []
        self.medications = {}
        self.fault = None

    # --- answering (called by the handler threads) -------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _stall(self) -> None:
        self._stopping.wait(self.stall_s)

    def _answer(self, path_and_query: str) -> tuple[int, Any]:
        """(status, JSON body) for a GET under the base path."""
        parts = urlsplit(path_and_query)
        if parts.path.rstrip("/") != BASE_PATH and not parts.path.startswith(BASE_PATH + "/"):
            return 404, _outcome("not-found", f"no such path {parts.path}")
        relative = parts.path[len(BASE_PATH) :].strip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not relative and "_getpages" in query:  # a page of an earlier search
            return 200, self._page(
                query["_getpages"],
                int(query.get("_getpagesoffset", "0")),
                int(query.get("_count", self.page_size)),
            )
        if relative in SEARCHABLE:
            return 200, self._page(relative, 0, self.page_size)
        kind, _, rid = relative.partition("/")
        if kind == "Medication" and rid:
            medication = self.medications.get(rid)
            if medication is None:
                return 404, _outcome("not-found", f"Medication/{rid} is not known")
            return 200, medication
        return 404, _outcome("not-supported", f"the stand-in does not serve {relative!r}")

    def _page(self, resource_type: str, offset: int, count: int) -> dict[str, Any]:
        everything = {
            "MedicationRequest": self.medication_requests,
            "MedicationStatement": self.medication_statements,
        }.get(resource_type, [])
        count = max(1, count)
        page = everything[offset : offset + count]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(everything),
            "link": [{"relation": "self", "url": f"{self.base_url}/{resource_type}"}],
            "entry": [
                {
                    "fullUrl": f"{self.base_url}/{r.get('resourceType')}/{r.get('id')}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in page
            ],
        }
        if offset + count < len(everything):
            bundle["link"].append(
                {
                    "relation": "next",
                    "url": f"{self.base_url}?_getpages={resource_type}"
                    f"&_getpagesoffset={offset + count}&_count={count}",
                }
            )
        return bundle


class _QuietServer(ThreadingHTTPServer):
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS is set up here, in the request's own thread, so that a client that never
        completes its handshake holds up no one else."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):  # e.g. a client that does not trust the certificate
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up on a stalled or trickled answer is what the faults are for."""
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    standin: FhirStandIn  # set on the subclass made by `FhirStandIn.start`
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        standin = self.standin
        standin._record(RecordedRequest("GET", self.path, self.headers.get("Authorization")))
        fault = standin.fault
        if fault is Fault.STALL:
            standin._stall()
            if standin._stopping.is_set():
                return
        if fault is Fault.UNAUTHORIZED:
            self._send(401, json.dumps(_outcome("login", "token rejected")).encode())
        elif fault is Fault.SERVER_ERROR:
            self._send(500, json.dumps(_outcome("exception", "stand-in failure")).encode())
        elif fault is Fault.GARBAGE:
            self._send(200, b"<html><body>502 Bad Gateway</body></html>\x00\xff not json")
        elif fault is Fault.REDIRECT:
            self._send(302, b"", headers={"Location": standin.redirect_to})
        else:
            status, body = standin._answer(self.path)
            self._send(status, json.dumps(body).encode(), trickle=fault is Fault.TRICKLE)

    def _send(
        self,
        status: int,
        body: bytes,
        trickle: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", FHIR_JSON)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if not trickle:
                self.wfile.write(body)
                return
            for offset in range(len(body)):
                self.wfile.write(body[offset : offset + 1])
                self.wfile.flush()
                if self.standin._stopping.wait(self.standin.trickle_interval_s):
                    return
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stall)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the requests are recorded on the stand-in instead."""


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
