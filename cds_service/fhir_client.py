"""Reads from the EHR's FHIR server, with the token the EHR gave: searches (with paging) and
single reads. The only module that talks to the FHIR server; `requests` with timeouts.

The access token is only ever sent to the `fhirServer` the EHR named: paging links and
references that point elsewhere are refused, never followed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from cds_service.orders import resources_in

FHIR_JSON = "application/fhir+json"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class FhirFetchError(Exception):
    """The data could not be had; the message says why, without the token or patient data."""


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
        try:
            response = self._session.get(
                url, headers=self._headers, timeout=self._timeout, stream=True
            )
        except requests.Timeout:
            raise FhirFetchError("the FHIR server did not answer in time") from None
        except requests.RequestException as error:
            reason = type(error).__name__
            raise FhirFetchError(f"the FHIR server could not be reached ({reason})") from None
        with response:
            if response.status_code != 200:
                raise FhirFetchError(f"the FHIR server answered HTTP {response.status_code}")
            body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        if len(body) > MAX_RESPONSE_BYTES:
            raise FhirFetchError(f"the FHIR server's answer to {path} is larger than allowed")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise FhirFetchError("the FHIR server's answer is not JSON") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("resourceType"), str):
            raise FhirFetchError("the FHIR server's answer is not a FHIR resource")
        return data


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
