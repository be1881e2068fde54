"""Reads from the EHR's FHIR server, with the token the EHR gave: searches (with paging) and
single reads. The only module that talks to the FHIR server; `requests` with timeouts.

Every read works against the call's FHIR budget (`Deadline`): each socket wait is cut to what
is left of it, and a body that trickles in is abandoned when it runs out (`FhirTimeout`).

The access token is only ever sent to the `fhirServer` the EHR named: paging links and
references that point elsewhere are refused, never followed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import TimeoutError as TransportTimeout

from cds_service.deadline import Deadline, DeadlineExceeded
from cds_service.orders import resources_in

FHIR_JSON = "application/fhir+json"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class FhirFetchError(Exception):
    """The data could not be had; the message says why, without the token or patient data."""


class FhirTimeout(FhirFetchError, DeadlineExceeded):
    """The FHIR server was too slow for the time the call allows (not an error it reported)."""


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
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self._headers = {"Accept": FHIR_JSON}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"
        self._timeout = (connect_timeout_s, read_timeout_s)
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
                raise FhirFetchError(
                    f"the FHIR server answered a {bundle.get('resourceType')} to a search, "
                    "not a Bundle"
                )
            found.extend(resources_in(bundle, self.max_entries - len(found)))
            pages += 1
            url = _next_link(bundle)
            if url is not None:
                url = self._url(url)
        if url and len(found) < self.max_entries:
            kind = query.split("?")[0]
            self.unread.append(
                f"the FHIR server had more {kind} pages than the {self.max_pages} this service "
                "reads; the rest were not read"
            )
        return [r for r in found if r.get("resourceType") != "OperationOutcome"]

    def read(self, reference: str) -> Mapping[str, Any]:
        resource = self._get(self._url(reference))
        if resource.get("resourceType") == "OperationOutcome":
            raise FhirFetchError("the FHIR server answered an OperationOutcome")
        return resource

    def _url(self, reference: str) -> str:
        url = urljoin(self.base_url, reference)
        if _origin(url) != self._origin or not url.startswith(self.base_url.rstrip("/")):
            raise FhirFetchError("a link leads off the EHR's FHIR server; it was not followed")
        return url

    def _get(self, url: str) -> Mapping[str, Any]:
        path = urlsplit(url).path.rsplit("/", 1)[-1] or "/"
        if self.deadline.expired():
            raise FhirTimeout(self._too_slow())
        connect, read = self._timeout
        timeout = (self.deadline.timeout(connect), self.deadline.timeout(read))
        try:
            response = self._session.get(url, headers=self._headers, timeout=timeout, stream=True)
        except requests.Timeout:
            raise FhirTimeout(self._too_slow()) from None
        except requests.RequestException as error:
            reason = type(error).__name__
            raise FhirFetchError(f"the FHIR server could not be reached ({reason})") from None
        with response:
            if response.status_code != 200:
                raise FhirFetchError(f"the FHIR server answered HTTP {response.status_code}")
            body = self._body(response, path)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise FhirFetchError("the FHIR server's answer is not JSON") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("resourceType"), str):
            raise FhirFetchError("the FHIR server's answer is not a FHIR resource")
        return data

    def _body(self, response: requests.Response, path: str) -> bytes:
        """The body, read a chunk at a time so that a server that trickles it out cannot hold
        the call past its deadline (each socket wait alone would stay under the timeout)."""
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.raw.read1(_CHUNK_BYTES, decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise FhirFetchError(
                        f"the FHIR server's answer to {path} is larger than allowed"
                    )
                if self.deadline.expired():
                    raise FhirTimeout(self._too_slow())
        except (TransportTimeout, TimeoutError):
            raise FhirTimeout(self._too_slow()) from None
        except (TransportError, requests.RequestException, OSError) as error:
            raise FhirFetchError(
                f"the FHIR server's answer broke off ({type(error).__name__})"
            ) from None
        return b"".join(chunks)

    def _too_slow(self) -> str:
        return f"the FHIR server did not answer within the {self.deadline.seconds:.1f} s allowed"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None
