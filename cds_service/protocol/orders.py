"""Medication resources in a hook call -> `PrescribedMedication`s mapped to ingredients.

Reads the orders being written (`draftOrders`, `medications`) and the patient's current
medications, in the shapes EHRs send: R4 resources are validated with `fhir.resources` (R4B
models) and read from the typed model; STU3 and DSTU2 shapes (`MedicationOrder`, STU3 dosage,
Bundle entries that are bare resources) fail that validation and are read leniently, which
each medication records in `read_as`. Pure: a referenced Medication that is not in the request
is obtained through the `fetch_medication` callable the caller passes in, if any.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds_service.core.codes import route_from_dose_form
from cds_service.core.mapping import MedicationMapper
from cds_service.core.medication import (
    READ_AS_LENIENT,
    READ_AS_R4,
    MedicationMapping,
    PrescribedMedication,
    Role,
)

ORDER_TYPES = frozenset({"MedicationRequest", "MedicationOrder"})  # MedicationOrder: DSTU2
CURRENT_TYPES = ORDER_TYPES | {
    "MedicationStatement",
    "MedicationDispense",
    "MedicationAdministration",
}
# Statuses saying the patient is not (or no longer) exposed to the drug
NOT_TAKEN_STATUSES = frozenset(
    {"entered-in-error", "cancelled", "stopped", "not-taken", "declined", "revoked", "not-done"}
)
MedicationFetcher = Callable[[str], Mapping[str, Any]]  # reference -> Medication; raises on error


def resources_in(value: Any, limit: int) -> Iterator[Mapping[str, Any]]:
    """Resources of a Bundle (`entry[].resource`, or entries that are bare resources, as some
    EHRs send), of a list of resources, or the value itself if it is a resource."""
    if isinstance(value, list):
        candidates: list[Any] = value
    elif isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        candidates = entries if isinstance(entries, list) else []
    else:
        candidates = [value]
    count = 0
    for candidate in candidates:
        if count >= limit:
            return
        resource = candidate.get("resource", candidate) if isinstance(candidate, Mapping) else None
        if isinstance(resource, Mapping) and isinstance(resource.get("resourceType"), str):
            count += 1
            yield resource


def medication_index(resources: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Medication resources of the request by "Medication/<id>", for `medicationReference`."""
    return {
        f"Medication/{r['id']}": r
        for r in resources
        if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str)
    }


class MedicationReader:
    def __init__(
        self,
        mapper: MedicationMapper,
        known_medications: Mapping[str, Mapping[str, Any]] | None = None,
        fetch_medication: MedicationFetcher | None = None,
    ) -> None:
        self.mapper = mapper
        self.known_medications = known_medications or {}
        self.fetch_medication = fetch_medication

    def read(self, resource: Mapping[str, Any], role: Role, origin: str) -> PrescribedMedication:
        resource_type = str(resource.get("resourceType"))
        # Validation says how the resource was read (R4, or leniently as an older shape); the
        # fields are then read from the resource as sent, which valid R4 leaves unchanged
        # (dumping the model back to a dict cost a quarter of a warm call)
        typed = _validated_r4(resource) is not None
        data = resource
        mapping = self._map(data)
        resource_id = data.get("id")
        status = data.get("status")
        return PrescribedMedication(
            role=role,
            resource_type=resource_type,
            resource_id=resource_id if isinstance(resource_id, str) and resource_id else None,
            status=status if isinstance(status, str) else None,
            mapping=mapping,
            route=_route(data, mapping),
            origin=origin,
            read_as=READ_AS_R4 if typed else READ_AS_LENIENT,
        )

    def _map(self, data: Mapping[str, Any]) -> MedicationMapping:
        concept = data.get("medicationCodeableConcept")
        reference = data.get("medicationReference")
        r5 = data.get("medication")  # R5 CodeableReference
        if isinstance(r5, Mapping):
            concept = concept or r5.get("concept")
            reference = reference or r5.get("reference")
        if concept is not None:
            return self.mapper.map_concept(concept)
        if isinstance(reference, Mapping):
            return self._map_reference(reference, data)
        return MedicationMapping(unmapped_reasons=("the order names no medication",))

    def _map_reference(
        self, reference: Mapping[str, Any], data: Mapping[str, Any]
    ) -> MedicationMapping:
        target = reference.get("reference")
        display = reference.get("display")
        medication: Mapping[str, Any] | None = None
        reasons: list[str] = []
        if isinstance(target, str) and target.startswith("#"):
            contained = data.get("contained")
            medication = next(
                (
                    c
                    for c in (contained if isinstance(contained, list) else [])
                    if isinstance(c, Mapping) and c.get("id") == target[1:]
                ),
                None,
            )
            if medication is None:
                reasons.append(f"contained Medication {target} is not in the resource")
        elif isinstance(target, str) and target:
            medication = self.known_medications.get(relative_reference(target))
            if medication is None and self.fetch_medication is not None:
                try:
                    medication = self.fetch_medication(target)
                except Exception as error:
                    reasons.append(f"{relative_reference(target)} could not be fetched: {error}")
            elif medication is None:
                reasons.append(
                    f"{relative_reference(target)} is neither in the request nor fetchable"
                )
        if medication is not None:
            mapped = self.mapper.map_medication(medication)
            if mapped.is_mapped or not isinstance(display, str):
                return mapped
            reasons.extend(mapped.unmapped_reasons)
        if isinstance(display, str) and display.strip():
            by_display = self.mapper.map_concept({"text": display})
            if by_display.is_mapped:
                return by_display
            reasons.extend(by_display.unmapped_reasons)
        return MedicationMapping(unmapped_reasons=tuple(reasons) or ("empty medicationReference",))


def _validated_r4(resource: Mapping[str, Any]) -> Any:
    """The R4 model of the resource, or None if it is not valid R4 (older shapes)."""
    try:
        model_class = get_fhir_model_class(str(resource.get("resourceType")))
    except (KeyError, ValueError):  # not an R4 resource type (DSTU2 MedicationOrder)
        return None
    try:
        return model_class.model_validate(resource)
    except (ValidationError, ValueError, TypeError, KeyError):  # KeyError: `contained` of an
        return None  # unknown resource type (fhir.resources looks its model up by name)


def _route(data: Mapping[str, Any], mapping: MedicationMapping) -> str | None:
    dosages: list[Any] = []
    for name in ("dosageInstruction", "dosage"):
        value = data.get(name)
        dosages.extend(value if isinstance(value, list) else [value])
    for dosage in dosages:
        route = dosage.get("route") if isinstance(dosage, Mapping) else None
        if isinstance(route, Mapping):
            texts = [route.get("text")] + [
                c.get("display") for c in route.get("coding", []) if isinstance(c, Mapping)
            ]
            for text in texts:
                if isinstance(text, str) and (found := route_from_dose_form(text)):
                    return found
    names = [mapping.label] + [step.detail for i in mapping.ingredients for step in i.trail[:1]]
    for name in names:
        if name and (found := route_from_dose_form(name)):
            return found
    return None


def relative_reference(reference: str) -> str:
    """'http://ehr/fhir/Medication/1' -> 'Medication/1'."""
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference
