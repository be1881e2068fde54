"""The CDS services this server offers, each declared once: id, hook, title, prefetch.

The web layer (`cds_service.web.hooks`) serves discovery and dispatches hook calls from these
declarations. Elsewhere a hook is named only through the constants below, where its meaning
matters: the engine's repeat-card suppression (shown at order-select, not again at order-sign)
and the try-it page, which builds the order-sign call an EHR would send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ORDER_SELECT = "order-select"
ORDER_SIGN = "order-sign"
MEDICATION_PRESCRIBE = "medication-prescribe"  # CDS Hooks 1.0, still sent by some EHRs
PATIENT_KEY = "patient"
MEDICATION_REQUESTS_KEY = "medicationRequests"
MEDICATION_STATEMENTS_KEY = "medicationStatements"
OBSERVATIONS_KEY = "observations"

# The lab results that change a rule's advice (`cds_service.core.patient_context`): digoxin level,
# potassium, creatinine, eGFR, lithium level, INR; LOINC codes as the HL7 PDDI value sets list them.
_CONTEXT_LABS = ",".join(
    f"http://loinc.org|{code}"
    for code in (
        "10535-3",
        "2823-3",
        "6298-4",
        "2160-0",
        "33914-3",
        "62238-1",
        "98979-8",
        "14334-7",
        "6301-6",
    )
)

# What the service needs to know about the patient besides the orders being written. The
# medication keys are required for a complete check (fetched from the FHIR server when the EHR
# does not prefetch them); the Patient (age) and recent lab results are read when given but never
# fetched: without them a rule gives its default advice and says so.
PREFETCH: dict[str, str] = {
    PATIENT_KEY: "Patient/{{context.patientId}}",
    MEDICATION_REQUESTS_KEY: "MedicationRequest?patient={{context.patientId}}&status=active",
    MEDICATION_STATEMENTS_KEY: "MedicationStatement?patient={{context.patientId}}&status=active",
    OBSERVATIONS_KEY: (
        "Observation?patient={{context.patientId}}&code=" + _CONTEXT_LABS + "&_sort=-date&_count=50"
    ),
}
CURRENT_MEDICATION_KEYS = (MEDICATION_REQUESTS_KEY, MEDICATION_STATEMENTS_KEY)


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    orders_field: str  # the context field holding the new orders
    requires_selections: bool = False
    prefetch: dict[str, str] = field(default_factory=lambda: dict(PREFETCH))

    def discovery_entry(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(self.prefetch),
        }


_DESCRIPTION = (
    "Checks {what} against each other and against the patient's active medications for "
    "drug-drug interactions, using curated knowledge (ANSM thesaurus, DDInter, the ONC "
    "high-priority and non-interruptive lists, CredibleMeds, HL7 PDDI rules, DrugBank interaction "
    "types) and reviewed rules from US labelling and pharmacology, on one severity scale. Each "
    "card names its sources with their grades and how the medication codes were mapped to "
    "ingredients."
)

SERVICES: tuple[ServiceDefinition, ...] = (
    ServiceDefinition(
        id="ddi-order-select",
        hook=ORDER_SELECT,
        title="Drug-drug interactions of the selected orders",
        description=_DESCRIPTION.format(what="the medications just selected"),
        orders_field="draftOrders",
        requires_selections=True,
    ),
    ServiceDefinition(
        id="ddi-order-sign",
        hook=ORDER_SIGN,
        title="Drug-drug interactions of the orders being signed",
        description=_DESCRIPTION.format(what="all draft medication orders"),
        orders_field="draftOrders",
    ),
    ServiceDefinition(
        id="ddi-medication-prescribe",
        hook=MEDICATION_PRESCRIBE,
        title="Drug-drug interactions of the prescription (legacy medication-prescribe hook)",
        description=_DESCRIPTION.format(what="the medications being prescribed"),
        orders_field="medications",
    ),
)


def service_by_id(service_id: str) -> ServiceDefinition | None:
    return next((s for s in SERVICES if s.id == service_id), None)
