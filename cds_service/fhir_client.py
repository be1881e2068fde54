"""Reads from the EHR's FHIR server, with the token the EHR gave: searches (with paging) and
single reads. The only module that talks to the FHIR server; `requests` with timeouts.

Every read works against the call's FHIR budget (`Deadline`): each socket wait is cut to what
is left of it, and a body that trickles in is abandoned when it runs out (`FhirTimeout`).

The EHR's token must reach only a FHIR server the EHR may name, and the service must not become
a way to probe the networks it can reach (an SSRF oracle). So:

* `FhirServerPolicy` decides, before any connection, whether a `fhirServer` may be read at all:
  under EHR tokens, exactly one of the bases the token's issuer lists, over https;
* redirects are not followed (a 3xx is a failure), paging links and references must stay on
  the named server's origin and under its base path by whole segments, dot segments (plain or
  percent-encoded) are refused;
* every failure, refusal included, reads the same to the caller (`FHIR_UNREADABLE`): whether a
  port is closed, answers 404 or speaks another protocol is written to the service log only, and
  no text the server sent is ever repeated in a message.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import TimeoutError as TransportTimeout

from cds_service.deadline import Deadline, DeadlineExceeded
from cds_service.orders import resources_in

FHIR_JSON = "application/fhir+json"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# What the caller learns of any failure to read the FHIR server, refusals and timeouts included:
# one text, so that answers cannot tell a closed port from a 404 or from another service.
FHIR_UNREADABLE = "the FHIR server the request names could not be read"

log = logging.getLogger("cds_service.fhir")


class FhirFetchError(Exception):
    """The data could not be had. `str()` is always `FHIR_UNREADABLE`; `detail` says why, for
    the service log only (never the token, never patient data, never the server's own text)."""

    def __init__(self, detail: str) -> None:
        super().__init__(FHIR_UNREADABLE)
        self.detail = detail


class FhirTimeout(FhirFetchError, DeadlineExceeded):
    """The FHIR server was too slow for the time the call allows (not an error it reported)."""


@dataclass(frozen=True, slots=True)
class FhirServerPolicy:
    """Which `fhirServer` a hook call may have the service connect to.

    `bases`: the exact base URLs allowed (compared without a trailing slash), from the verified
    token's issuer; None: any https base (no issuer: `--no-auth` development, or the engine used
    without the web layer). `http_loopback`: plain http to a loopback host as well (`--no-auth`
    only: the token would otherwise cross the network in clear)."""

    bases: frozenset[str] | None = None
    http_loopback: bool = False

    @classmethod
    def of_issuer(cls, bases: tuple[str, ...] | frozenset[str]) -> FhirServerPolicy:
        return cls(frozenset(normalise_base(b) for b in bases))

    def check(self, url: str) -> None:
        """Raises `FhirFetchError` when `url` may not be connected to (before any connection)."""
        problem = base_url_problem(url, http_loopback=self.http_loopback)
        if problem is None and self.bases is not None and normalise_base(url) not in self.bases:
            problem = "not one of the FHIR servers the token's issuer may name"
        if problem is not None:
            raise _failure(url, f"fhirServer refused: {problem}")


def normalise_base(url: str) -> str:
    """The one normalisation a base gets before it is compared: no trailing slash."""
    return url.rstrip("/")


def base_url_problem(url: str, *, http_loopback: bool = False) -> str | None:
    """Why `url` cannot be a FHIR base this service connects to; None when it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return "not a URL"
    if not parts.hostname:
        return "no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "a query or fragment"
    if _has_dot_segment(parts.path) or "\\" in url:
        return "dot segments or backslashes in the path"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and http_loopback and is_loopback(parts.hostname):
        return None
    return "plain http" if parts.scheme == "http" else "not https"


class RefusedFhirServer:
    """Stands in for a `FhirClient` when the `fhirServer` was refused: every read fails as a
    failed connection would, and nothing is sent anywhere."""

    unread: list[str]

    def __init__(self) -> None:
        self.unread = []

    def search(self, query: str) -> list[Mapping[str, Any]]:
        raise FhirFetchError("fhirServer refused")

    def read(self, reference: str) -> Mapping[str, Any]:
        raise FhirFetchError("fhirServer refused")


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
        self._origin = _origin(self.base_url)
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
                raise _failure(self.base_url, "a search was answered with another resource type")
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
            raise _failure(self.base_url, "a read was answered with an OperationOutcome")
        return resource

    def _url(self, reference: str) -> str:
        """`reference` resolved against the base; it must stay on the base's origin and under
        its path by whole segments (`/fhir-admin` is not under `/fhir`)."""
        if "\\" in reference or _has_dot_segment(urlsplit(reference).path):
            raise _failure(self.base_url, "a link with dot segments was not followed")
        url = urljoin(self.base_url, reference)
        parts = urlsplit(url)
        inside = parts.path == self._base_path or parts.path.startswith(self._base_path + "/")
        if _origin(url) != self._origin or not inside or _has_dot_segment(parts.path):
            raise _failure(self.base_url, "a link leading off the FHIR base was not followed")
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
            raise _failure(url, f"no answer ({type(error).__name__})") from None
        with response:
            if response.status_code != 200:
                raise _failure(url, f"HTTP {response.status_code}")
            body = self._body(response, url)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise _failure(url, "the answer is not JSON") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("resourceType"), str):
            raise _failure(url, "the answer is not a FHIR resource")
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
                    raise _failure(url, "the answer is larger than allowed")
                if self.deadline.expired():
                    raise self._too_slow()
        except (TransportTimeout, TimeoutError):
            raise self._too_slow() from None
        except (TransportError, requests.RequestException, OSError) as error:
            raise _failure(url, f"the answer broke off ({type(error).__name__})") from None
        return b"".join(chunks)

    def _too_slow(self) -> FhirTimeout:
        detail = f"no answer within the {self.deadline.seconds:.1f} s allowed"
        log.warning("FHIR server %s: %s", _shown(self.base_url), detail)
        return FhirTimeout(detail)


def _failure(url: str, detail: str) -> FhirFetchError:
    log.warning("FHIR server %s: %s", _shown(url), detail)
    return FhirFetchError(detail)


def _shown(url: str) -> str:
    """The origin only: a path or query can carry the patient's id."""
    scheme, netloc = _origin(url)
    return f"{scheme}://{netloc.rpartition('@')[2]}"[:200]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _has_dot_segment(path: str) -> bool:
    """A `.` or `..` segment, however percent-encoded (a server may decode it and climb out of
    the base), or an encoded slash that would make one segment two."""
    for segment in path.split("/"):
        decoded = segment
        for _ in range(3):  # %252e is %2e once decoded, . twice
            decoded = unquote(decoded)
        if decoded in {".", ".."} or "/" in decoded or "\\" in decoded:
            return True
    return False


def is_loopback(host: str) -> bool:
    """localhost or a loopback address (the only hosts development may reach over http)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None
