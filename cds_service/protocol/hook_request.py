"""The CDS Hooks 2.0 request, validated: what the EHR sent, or a `RequestError` saying why not.

Pure: no Flask. Strict where the spec is strict and the answer depends on it (`hook`,
`hookInstance`, `context`, `fhirAuthorization` needs `fhirServer`); tolerant of the deviations
real EHRs and HL7's own examples show (no `userId`, prefetch carried inside `context`, the
2017 draft's `{"response", "resource"}` wrapper around prefetched resources).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cds_service.protocol.services import ServiceDefinition

MAX_ID_LENGTH = 256  # hookInstance, ids: beyond this the value is not an id
MAX_URL_LENGTH = 2048  # fhirServer


class RequestError(Exception):
    """A request the service cannot answer; `status` and a message saying precisely why."""

    def __init__(self, message: str, *, status: int = 400, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.expression = expression


@dataclass(frozen=True, slots=True)
class FhirAuthorization:
    access_token: str = field(repr=False)  # never printed, never logged
    token_type: str
    scope: str
    subject: str
    expires_in: float | None


@dataclass(frozen=True, slots=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: Mapping[str, Any]
    prefetch: Mapping[str, Any]  # key -> resource (None: the EHR says there is none)
    legacy_prefetch: Mapping[str, Any]  # resources found where old drafts of the spec put them
    fhir_server: str | None = None
    fhir_authorization: FhirAuthorization | None = None
    notes: tuple[str, ...] = ()  # deviations tolerated, for the audit trail

    @property
    def patient_id(self) -> str:
        return str(self.context.get("patientId", ""))


def parse_hook_request(body: Any, service: ServiceDefinition) -> HookRequest:
    if not isinstance(body, Mapping):
        raise RequestError(f"the request body must be a JSON object, not {_kind(body)}")
    notes: list[str] = []
    hook = _required_string(body, "hook")
    if hook != service.hook:
        raise RequestError(
            f"service {service.id!r} answers the {service.hook!r} hook, not {hook!r}",
            expression="hook",
        )
    hook_instance = _required_string(body, "hookInstance")
    fhir_server = _fhir_server(body)
    authorization = _fhir_authorization(body)
    if authorization is not None and fhir_server is None:
        raise RequestError(
            "fhirAuthorization was sent without fhirServer (cds-r-1)", expression="fhirServer"
        )
    context = body.get("context")
    if not isinstance(context, Mapping):
        raise RequestError(
            f"context must be a JSON object, not {_kind(context)}", expression="context"
        )
    _validate_context(context, service)
    prefetch = body.get("prefetch")
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, Mapping):
        raise RequestError(
            f"prefetch must be a JSON object, not {_kind(prefetch)}", expression="prefetch"
        )
    legacy = _legacy_prefetch(context, service)
    if legacy:
        notes.append(
            "prefetch data found inside context (non-standard layout): " + ", ".join(sorted(legacy))
        )
    if "userId" not in context:
        notes.append("context.userId is absent")
    return HookRequest(
        hook=hook,
        hook_instance=hook_instance,
        context=context,
        prefetch={k: unwrap_prefetched(v) for k, v in prefetch.items()},
        legacy_prefetch=legacy,
        fhir_server=fhir_server,
        fhir_authorization=authorization,
        notes=tuple(notes),
    )


def unwrap_prefetched(value: Any) -> Any:
    """The 2017 draft wrapped each prefetched resource as {"response": ..., "resource": ...}."""
    if isinstance(value, Mapping) and "resource" in value and "resourceType" not in value:
        return value["resource"]
    return value


def _validate_context(context: Mapping[str, Any], service: ServiceDefinition) -> None:
    patient = context.get("patientId")
    if not isinstance(patient, str) or not patient.strip():
        raise RequestError(
            f"context.patientId must be a non-empty string, not {_kind(patient)}",
            expression="context.patientId",
        )
    orders = context.get(service.orders_field)
    if not isinstance(orders, Mapping | list):
        raise RequestError(
            f"context.{service.orders_field} must be a FHIR Bundle, not {_kind(orders)}",
            expression=f"context.{service.orders_field}",
        )
    if service.requires_selections:
        selections = context.get("selections")
        if not isinstance(selections, list) or not all(
            isinstance(s, str) and s for s in selections
        ):
            raise RequestError(
                "context.selections must be a list of references such as 'MedicationRequest/123'",
                expression="context.selections",
            )


def _legacy_prefetch(context: Mapping[str, Any], service: ServiceDefinition) -> dict[str, Any]:
    """Prefetch the PDDI examples carry inside `context`: `context.prefetch` and `context.itemN`."""
    found: dict[str, Any] = {}
    nested = context.get("prefetch")
    if isinstance(nested, Mapping):
        found.update({str(k): unwrap_prefetched(v) for k, v in nested.items()})
    known = {"patientId", "userId", "encounterId", "selections", "prefetch", service.orders_field}
    for key, value in context.items():
        resource = unwrap_prefetched(value)
        if key not in known and isinstance(resource, Mapping) and "resourceType" in resource:
            found[str(key)] = resource
    return found


def _required_string(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RequestError(
            f"{name} must be a non-empty string, not {_kind(value)}", expression=name
        )
    if len(value) > MAX_ID_LENGTH:
        raise RequestError(f"{name} is longer than {MAX_ID_LENGTH} characters", expression=name)
    if not value.isprintable():
        raise RequestError(f"{name} holds control characters", expression=name)
    return value


def _fhir_server(body: Mapping[str, Any]) -> str | None:
    """The URL's form only. Whether the service may connect to it (https, the token's issuer
    lists it) is `FhirServerPolicy`'s decision, answered the same way whatever the reason, so
    that a refusal tells the caller nothing about the networks the service can reach."""
    value = body.get("fhirServer")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or not value.isprintable():
        raise RequestError("fhirServer must be an http(s) URL", expression="fhirServer")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RequestError("fhirServer must be an http(s) URL", expression="fhirServer")
    if "@" in parts.netloc or parts.query or parts.fragment or " " in value:
        raise RequestError(
            "fhirServer must be an http(s) URL without credentials, query or fragment",
            expression="fhirServer",
        )
    return value.rstrip("/")


def _fhir_authorization(body: Mapping[str, Any]) -> FhirAuthorization | None:
    value = body.get("fhirAuthorization")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RequestError(
            f"fhirAuthorization must be a JSON object, not {_kind(value)}",
            expression="fhirAuthorization",
        )
    for name in ("access_token", "token_type", "scope", "subject"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise RequestError(
                f"fhirAuthorization.{name} must be a non-empty string",
                expression=f"fhirAuthorization.{name}",
            )
    if value["token_type"].lower() != "bearer":
        raise RequestError(
            "fhirAuthorization.token_type must be 'Bearer'", expression="fhirAuthorization"
        )
    expires = value.get("expires_in")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int | float)):
        raise RequestError(
            "fhirAuthorization.expires_in must be a number of seconds",
            expression="fhirAuthorization.expires_in",
        )
    return FhirAuthorization(
        access_token=value["access_token"],
        token_type=value["token_type"],
        scope=value["scope"],
        subject=value["subject"],
        expires_in=expires,
    )


def _kind(value: Any) -> str:
    if value is None:
        return "missing or null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")
