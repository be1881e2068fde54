"""The patient's current medications for a hook call: from prefetch, else from the FHIR server.

CDS Hooks 2.0: a prefetch key that is absent (or holds an OperationOutcome, the EHR's way of
saying it failed) means the service must fetch the data itself; `null` means there is none.
The two current-medication keys answer one question: once the EHR has prefetched either (an
empty Bundle says "no medications"), the other one left out is not fetched.
Data that cannot be had raises `MedicationDataUnavailable`, which the web layer answers with
412. A FHIR server that cannot be read (refused by the service's FHIR server policy, down, an
HTTP error, not FHIR, too slow for the call's deadline) does not stop the check: it goes on
without the current medications and says so (fail-open), with one text whatever the reason, so
that the answer cannot be used to probe the networks the service reaches (the reason is in the
service log; `cds_service.adapters.fhir_client`). Tolerated: EHRs configured
with another service's prefetch keys (the HL7 PDDI examples send `item1`..`item6`): their
medication resources are read as they are, without fetching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cds_service.config import NoMedicationDataPolicy
from cds_service.core.deadline import DeadlineExceeded
from cds_service.protocol.fhir_servers import FhirFetchError
from cds_service.protocol.hook_request import HookRequest
from cds_service.protocol.orders import CURRENT_TYPES, resources_in
from cds_service.protocol.services import CURRENT_MEDICATION_KEYS, ServiceDefinition

Search = Callable[[str], list[Mapping[str, Any]]]  # a FHIR search; raises on failure
_TOKEN_PREFIX = "{{context."  # noqa: S105 - a template token, not a password


class MedicationDataUnavailable(Exception):
    """The current medications can neither be read from prefetch nor fetched (412)."""


@dataclass(frozen=True, slots=True)
class CurrentMedicationData:
    medications: tuple[tuple[Mapping[str, Any], str], ...]  # (resource, where it came from)
    other_resources: tuple[Mapping[str, Any], ...]  # e.g. Medications that orders refer to
    complete: bool  # False: the current medications could not be checked
    notes: tuple[str, ...] = ()
    truncated: bool = False  # more medications were sent than the service reads
    missing_because: str | None = None  # when not complete: why (None: never asked for)


def gather_current_medications(
    request: HookRequest,
    service: ServiceDefinition,
    search: Search | None,
    policy: NoMedicationDataPolicy,
    limit: int,
) -> CurrentMedicationData:
    medications: list[tuple[Mapping[str, Any], str]] = []
    others: list[Mapping[str, Any]] = []
    notes: list[str] = []

    truncated = False

    def take(value: Any, origin: str) -> None:
        nonlocal truncated
        for resource in resources_in(value, limit + 1):
            if len(medications) + len(others) >= limit:
                truncated = True
                return
            if resource.get("resourceType") in CURRENT_TYPES:
                medications.append((resource, origin))
            else:
                others.append(resource)

    missing: list[str] = []
    answered: list[str] = []  # current-medication keys the EHR prefetched (null included)
    for key in CURRENT_MEDICATION_KEYS:
        value = request.prefetch.get(key, ...)
        if value is ... or _is_operation_outcome(value):
            missing.append(key)
            continue
        answered.append(key)
        if value is not None:
            take(value, f"prefetch {key}")
    if (
        answered
        and missing
        and not any(_is_operation_outcome(request.prefetch.get(key)) for key in missing)
    ):
        # The EHR answered for the patient's current medications (an empty Bundle says "none"):
        # a sibling key it left out is one it does not keep (many EHRs have no
        # MedicationStatement), not a reason to query the FHIR server or to call the check
        # incomplete.
        notes.append(
            f"{', '.join(missing)} not prefetched; the current medications are those of "
            f"{', '.join(answered)}"
        )
        missing = []
    ours = set(service.prefetch)
    foreign = {k: v for k, v in request.prefetch.items() if k not in ours}
    foreign.update(request.legacy_prefetch)
    found_before = len(medications)
    for key, value in sorted(foreign.items()):
        take(value, f"prefetch {key}")
    if missing and len(medications) > found_before and not _has_own_keys(request):
        notes.append(
            "current medications read from the request's own prefetch keys ("
            + ", ".join(sorted(foreign))
            + ")"
        )
        missing = []
    if missing:
        if search is None:
            if policy is NoMedicationDataPolicy.PRECONDITION_FAILED:
                raise MedicationDataUnavailable(
                    "the current medications were not prefetched ("
                    + ", ".join(missing)
                    + ") and the request names no fhirServer to fetch them from"
                )
            return CurrentMedicationData(
                tuple(medications), tuple(others), False, tuple(notes), truncated
            )
        for key in missing:
            query = fill_template(service.prefetch[key], request.context)
            try:
                fetched = search(query)
            except (DeadlineExceeded, FhirFetchError) as error:
                late = isinstance(error, DeadlineExceeded)
                notes.append(f"{key} not fetched {'in time' if late else '(FHIR server unread)'}")
                return CurrentMedicationData(
                    tuple(medications), tuple(others), False, tuple(notes), truncated, str(error)
                )
            except Exception as error:
                raise MedicationDataUnavailable(f"{key} could not be fetched: {error}") from None
            take(fetched, f"FHIR server ({key})")
            notes.append(f"{key} fetched from the FHIR server")
    return CurrentMedicationData(tuple(medications), tuple(others), True, tuple(notes), truncated)


def fill_template(template: str, context: Mapping[str, Any]) -> str:
    """Replace `{{context.X}}` tokens with the URL-encoded context values."""
    result = template
    while (start := result.find(_TOKEN_PREFIX)) != -1:
        end = result.find("}}", start)
        if end == -1:
            break
        name = result[start + len(_TOKEN_PREFIX) : end]
        value = context.get(name)
        result = (
            result[:start]
            + quote(str(value if value is not None else ""), safe="")
            + (result[end + 2 :])
        )
    return result


def _is_operation_outcome(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome"


def _has_own_keys(request: HookRequest) -> bool:
    return any(key in request.prefetch for key in CURRENT_MEDICATION_KEYS)
