"""Reads from the EHR's FHIR server, with the token the EHR gave: searches (with paging) and
single reads. The only module that talks to the FHIR server; `requests` with timeouts.

Every read works against the call's FHIR budget (`Deadline`): each socket wait is cut to what
is left of it, and a body that trickles in is abandoned when it runs out (`FhirTimeout`).

Which servers may be read at all is decided before any connection
(`cds_service.protocol.fhir_servers`).
Once connected:

* redirects are not followed (a 3xx is a failure), paging links and references must stay on
  the named server's origin and under its base path by whole segments, dot segments (plain or
  percent-encoded) are refused;
* every failure, refusal included, reads the same to the caller (`FHIR_UNREADABLE`): whether a
  port is closed, answers 404 or speaks another protocol is written to the service log only, and
  no text the server sent is ever repeated in a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import TimeoutError as TransportTimeout

from cds_service.config import Settings
from cds_service.core.deadline import Deadline
from cds_service.protocol.fhir_servers import (
    FhirTimeout,
    failure,
    has_dot_segment,
    log,
    normalise_base,
    origin,
    shown,
)
from cds_service.protocol.hook_request import HookRequest
from cds_service.protocol.orders import resources_in

FHIR_JSON = "application/fhir+json"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class FhirClient:
    def __init__(
        self,
        base_url: str,
        access_token: str | None = None,
        *,
        connect_timeout_s: float = 1.0,
        read_timeout_s: float = 2.0,
        max_pages: int = 10,
        max_entries: int = 1000,
        session: requests.Session | None = None,
        deadline: Deadline | None = None,
        verify: bool | str = True,
    ) -> None:
        """`verify`: True (the system's CAs) or the path of a CA bundle (a hospital's own CA)."""
        self.base_url = normalise_base(base_url) + "/"
        self._origin = origin(self.base_url)
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._headers = {"Accept": FHIR_JSON}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._verify = verify
        self.max_pages = max_pages
        self.max_entries = max_entries
        self._session = session or requests.Session()
        self.deadline = deadline or Deadline.unlimited()
        self.unread: list[str] = []  # what a search left on the server (page limit), for a card

    def search(self, query: str) -> list[Mapping[str, Any]]:
        """Every resource of a search, following the Bundle's `next` links."""
        url: str | None = self._url(query)
        found: list[Mapping[str, Any]] = []
        pages = 0
        while url and pages < self.max_pages and len(found) < self.max_entries:
            bundle = self._get(url)
            if bundle.get("resourceType") != "Bundle":
                raise failure(self.base_url, "a search was answered with another resource type")
            found.extend(resources_in(bundle, self.max_entries - len(found)))
            pages += 1
            url = _next_link(bundle)
            if url is not None:
                url = self._url(url)
        if url and len(found) < self.max_entries:
            kind = query.split("?")[0]  # the service's own query, not the server's words
            self.unread.append(
                f"the FHIR server had more {kind} pages than the {self.max_pages} this service "
                "reads; the rest were not read"
            )
        return [r for r in found if r.get("resourceType") != "OperationOutcome"]

    def read(self, reference: str) -> Mapping[str, Any]:
        resource = self._get(self._url(reference))
        if resource.get("resourceType") == "OperationOutcome":
            raise failure(self.base_url, "a read was answered with an OperationOutcome")
        return resource

    def _url(self, reference: str) -> str:
        """`reference` resolved against the base; it must stay on the base's origin and under
        its path by whole segments (`/fhir-admin` is not under `/fhir`)."""
        if "\\" in reference or has_dot_segment(urlsplit(reference).path):
            raise failure(self.base_url, "a link with dot segments was not followed")
        url = urljoin(self.base_url, reference)
        parts = urlsplit(url)
        inside = parts.path == self._base_path or parts.path.startswith(self._base_path + "/")
        if origin(url) != self._origin or not inside or has_dot_segment(parts.path):
            raise failure(self.base_url, "a link leading off the FHIR base was not followed")
        return url

    def _get(self, url: str) -> Mapping[str, Any]:
        if self.deadline.expired():
            raise self._too_slow()
        connect, read = self._timeout
        timeout = (self.deadline.timeout(connect), self.deadline.timeout(read))
        try:
            response = self._session.get(
                url,
                headers=self._headers,
                timeout=timeout,
                stream=True,
                allow_redirects=False,  # a redirect could carry the token elsewhere
                verify=self._verify,
            )
        except requests.Timeout:
            raise self._too_slow() from None
        except (requests.RequestException, TransportError, OSError, ValueError) as error:
            raise failure(url, f"no answer ({type(error).__name__})") from None
        with response:
            if response.status_code != 200:
                raise failure(url, f"HTTP {response.status_code}")
            body = self._body(response, url)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise failure(url, "the answer is not JSON") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("resourceType"), str):
            raise failure(url, "the answer is not a FHIR resource")
        return data

    def _body(self, response: requests.Response, url: str) -> bytes:
        """The body, read a chunk at a time so that a server that trickles it out cannot hold
        the call past its deadline (each socket wait alone would stay under the timeout)."""
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.raw.read1(_CHUNK_BYTES, decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise failure(url, "the answer is larger than allowed")
                if self.deadline.expired():
                    raise self._too_slow()
        except (TransportTimeout, TimeoutError):
            raise self._too_slow() from None
        except (TransportError, requests.RequestException, OSError) as error:
            raise failure(url, f"the answer broke off ({type(error).__name__})") from None
        return b"".join(chunks)

    def _too_slow(self) -> FhirTimeout:
        detail = f"no answer within the {self.deadline.seconds:.1f} s allowed"
        log.warning("FHIR server %s: %s", shown(self.base_url), detail)
        return FhirTimeout(detail)


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def client_factory(settings: Settings) -> Callable[[HookRequest, Deadline], FhirClient]:
    """What the web layer passes the engine: a client per call for the request's `fhirServer`
    and token, with the settings' timeouts, page limits and CA bundle. Raises ValueError when
    the CA bundle the settings name is not there (the service does not start)."""
    ca_bundle = settings.fhir_ca_bundle_file
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ValueError(f"DDI_CDS_FHIR_CA_BUNDLE_FILE {ca_bundle}: no such file")

    def client_for(request: HookRequest, deadline: Deadline) -> FhirClient:
        token = request.fhir_authorization.access_token if request.fhir_authorization else None
        return FhirClient(
            request.fhir_server or "",
            token,
            connect_timeout_s=settings.fhir_connect_timeout_s,
            read_timeout_s=settings.fhir_read_timeout_s,
            max_pages=settings.fhir_max_pages,
            max_entries=settings.max_medications,
            deadline=deadline,
            verify=str(ca_bundle) if ca_bundle is not None else True,
        )

    return client_for
