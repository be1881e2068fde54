"""The CDS Hooks calls an EHR sends and the FHIR resources in them, built one way for every test
and benchmark.

    hook_request("order-sign", [medication_request(WARFARIN, rid="w")],
                 current=[medication_request(IBUPROFEN, rid="i", status="active")])
    order_sign_by_codes([WARFARIN], [IBUPROFEN])  # the same call, the orders' ids d0 and c0
    hook_request("order-sign", drafts, fhir_server=url, fhir_token="t")  # the EHR's FHIR server
    hook_request("order-sign", drafts, prefetch=null_prefetch())  # a member set
    hook_request("order-sign", drafts, hookInstance=...)  # a member left out: a bad request

The code systems are written out here as an EHR writes them rather than taken from
`cds_service.core.codes`: a request built from the service's own constants would not notice them
go wrong. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
PATIENT_ID = "p1"
USER_ID = "Practitioner/1"
FHIR_SCOPE = "user/MedicationRequest.read user/MedicationStatement.read user/Medication.read"

Resource = Mapping[str, Any]


def concept(code: str, system: str = RXNORM) -> dict[str, Any]:
    """A CodeableConcept of one coding."""
    return {"coding": [{"system": system, "code": code}]}


def rxnorm(code: str) -> dict[str, Any]:
    return concept(code, RXNORM)


def ndc(code: str) -> dict[str, Any]:
    return concept(code, NDC)


def medication_request(
    code: str | None, *, rid: str | None = None, status: str = "draft", **fields: Any
) -> dict[str, Any]:
    """A MedicationRequest (intent order, for Patient/p1) of the RxNorm `code`, with the id
    `rid` (none if None). `code` None leaves medicationCodeableConcept out (a medicationReference
    goes in `fields`); `fields` add members or replace these."""
    resource: dict[str, Any] = {"resourceType": "MedicationRequest"}
    if rid is not None:
        resource["id"] = rid
    resource |= {"status": status, "intent": "order"}
    resource["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    if code is not None:
        resource["medicationCodeableConcept"] = rxnorm(code)
    return resource | fields


def bundle(resources: Iterable[Resource], kind: str = "collection") -> dict[str, Any]:
    """A Bundle of `kind`: "collection" (draft orders), "searchset" (a search's answer)."""
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def fhir_authorization(token: str) -> dict[str, Any]:
    """The fhirAuthorization an EHR sends beside fhirServer: `token` is the bearer token the
    service may send to that server, and to no other."""
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": FHIR_SCOPE,
        "subject": "ddi-cds",
    }


def null_prefetch() -> dict[str, None]:
    """A prefetch whose two templates (medicationRequests, medicationStatements) are null."""
    return {"medicationRequests": None, "medicationStatements": None}


def hook_request(
    hook: Any,
    drafts: Iterable[Resource] = (),
    *,
    current: Iterable[Resource] | None = None,
    fhir_server: str | None = None,
    fhir_token: str | None = None,
    hook_instance: str = HOOK_INSTANCE,
    patient_id: str = PATIENT_ID,
    user_id: str = USER_ID,
    **fields: Any,
) -> dict[str, Any]:
    """A call of `hook` (any JSON value, for a test of a wrong one) whose context.draftOrders is a
    collection Bundle of `drafts`; at order-select, context.selections names the first draft if
    it has an id.

    `current`: the medicationRequests prefetch, a searchset Bundle of these, with
    medicationStatements null; None: no prefetch member. `fhir_server`: fhirServer;
    `fhir_token`: the fhirAuthorization carrying that token (sent even without fhirServer, for
    a test of that). `fields`: top-level members to set (`prefetch=null_prefetch()`, `context=`,
    ...), or to leave out where the value is `...`.
    """
    drafts = list(drafts)
    context: dict[str, Any] = {
        "userId": user_id,
        "patientId": patient_id,
        "draftOrders": bundle(drafts),
    }
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{d['id']}" for d in drafts[:1] if "id" in d]
    body: dict[str, Any] = {"hook": hook, "hookInstance": hook_instance, "context": context}
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if fhir_token is not None:
        body["fhirAuthorization"] = fhir_authorization(fhir_token)
    if current is not None:
        body["prefetch"] = {
            "medicationRequests": bundle(current, "searchset"),
            "medicationStatements": None,
        }
    for name, value in fields.items():
        if value is ...:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def order_sign_by_codes(
    drafts: Sequence[str], current: Sequence[str] | None, **options: Any
) -> dict[str, Any]:
    """An order-sign call: a draft order per RxNorm code of `drafts` (ids d0, d1, ...) and an
    active order per code of `current` (c0, c1, ...) in the prefetch (None: no prefetch);
    `options` as `hook_request`'s."""
    orders = [medication_request(code, rid=f"d{n}") for n, code in enumerate(drafts)]
    if current is not None:
        options["current"] = [
            medication_request(code, rid=f"c{n}", status="active") for n, code in enumerate(current)
        ]
    return hook_request("order-sign", orders, **options)
