"""Which FHIR servers a hook call may have the service read, decided before any connection,
and how a failure reads (pure: no network library; `cds_service.adapters.fhir_client` does the
reading).

The EHR's token must reach only a FHIR server the EHR may name, and the service must not become
a way to probe the networks it can reach (an SSRF oracle). So `FhirServerPolicy` allows, under
EHR tokens, exactly one of the bases the token's issuer lists, over https; bases with
credentials, queries, fragments or dot segments (plain or percent-encoded) are refused; and every
failure, refusal included, reads the same to the caller (`FHIR_UNREADABLE`): whether a port is
closed, answers 404 or speaks another protocol is written to the service log only.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from cds_service.core.deadline import DeadlineExceeded

# What the caller learns of any failure to read the FHIR server, refusals and timeouts included:
# one text, so that answers cannot tell a closed port from a 404 or from another service.
FHIR_UNREADABLE = "the FHIR server the request names could not be read"

log = logging.getLogger("cds_service.fhir")  # the client logs under the same name


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
            raise failure(url, f"fhirServer refused: {problem}")


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
    if has_dot_segment(parts.path) or "\\" in url:
        return "dot segments or backslashes in the path"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and http_loopback and is_loopback(parts.hostname):
        return None
    return "plain http" if parts.scheme == "http" else "not https"


class FhirReader(Protocol):
    """What the engine reads through (`cds_service.adapters.fhir_client.FhirClient`, or a stand-in):
    searches, single reads, and what could not be read although the call went on."""

    unread: list[str]

    def search(self, query: str) -> list[Mapping[str, Any]]: ...

    def read(self, reference: str) -> Mapping[str, Any]: ...


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


def failure(url: str, detail: str) -> FhirFetchError:
    log.warning("FHIR server %s: %s", shown(url), detail)
    return FhirFetchError(detail)


def shown(url: str) -> str:
    """The origin only: a path or query can carry the patient's id."""
    scheme, netloc = origin(url)
    return f"{scheme}://{netloc.rpartition('@')[2]}"[:200]


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def has_dot_segment(path: str) -> bool:
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
