"""Property-based tests (hypothesis) of hostile hook and feedback bodies, through the Flask app.

Two kinds of input: arbitrary JSON values (and bytes that are not JSON at all), and near-valid
requests, a valid skeleton with a few fields mutated (wrong types, missing keys, huge strings,
odd unicode, deep nesting, unknown codes, random FHIR-like resources in draftOrders and
prefetch). For every one:

- the status is one the OpenAPI description lists for the endpoint, and never 5xx (no 503
  either for feedback: the store is healthy here, so a 503 would blame it for a bad body);
- every error is an OperationOutcome whose issue has a non-empty `diagnostics`;
- every 200 of a hook call validates against the CDS Hooks response schema;
- the feedback store gains exactly the items of an accepted body, and nothing for a rejected one.

One app serves the module (auth disabled, model on): building one per example would dominate.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cds_service.protocol.services import SERVICES
from cds_service.testing.hook_requests import (
    NDC,
    RXNORM,
    bundle,
    concept,
    hook_request,
    medication_request,
    null_prefetch,
)
from cds_service.testing.rxcui import (
    CLARITHROMYCIN,
    IBUPROFEN,
    IBUPROFEN_200MG,
    LISINOPRIL,
    SIMVASTATIN,
    TRAMADOL,
    WARFARIN,
    WARFARIN_1MG,
)

BOUNDED = settings(
    max_examples=60,
    deadline=None,  # a hook call scores pairs with the model: its time varies with the drugs
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HOOK_STATUSES = {200, 400, 404, 412, 413, 415}  # documented for POST /cds-services/{id}, no auth
FEEDBACK_STATUSES = {200, 400, 404, 413, 415}  # and 503, which a healthy store never causes
SERVICE_IDS = [s.id for s in SERVICES]
HOOK_OF = {s.id: s.hook for s in SERVICES}
ORDERS_FIELD = {s.id: s.orders_field for s in SERVICES}
DEEP = "__deep_nesting__"  # replaced in the serialised body by nesting too deep to build

# Ingredient and clinical-drug RXCUIs the index knows (several pairs interact), then unknowns.
KNOWN_CODES = [
    *(WARFARIN, IBUPROFEN, CLARITHROMYCIN, TRAMADOL, SIMVASTATIN, LISINOPRIL),
    *(WARFARIN_1MG, IBUPROFEN_200MG),
]
ODD_CODES = ["0", "-1", "99999999999", "abc", "", " 11289 ", "1" * 300, "11289\x00"]
ODD_TEXT = [
    "\x00",
    "\ud800",  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
    "\udfff\ud800",
    "\U0001f48a\u200d\U0001f9ea",
    "\u202eesrever",
    "\ufeffBOM",
    "e\u0301\u0301\u0301",
    "ﷺ" * 50,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "[link](javascript:alert(1))",
    "%s%n{0}",
]
RESOURCE_TYPES = [
    "MedicationRequest",
    "MedicationOrder",
    "MedicationStatement",
    "MedicationDispense",
    "MedicationAdministration",
    "Medication",
    "Patient",
    "Bundle",
    "OperationOutcome",
    "NutritionOrder",
    "ServiceRequest",
    "NotAResource",
]


# --- the app ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    from cds_service.app import create_app
    from cds_service.config import Settings

    return create_app(Settings(auth_disabled=True, data_dir=tmp_path_factory.mktemp("hostile")))


@pytest.fixture(scope="module")
def client(hostile_app):
    """This module's client: the app of conftest's `client` is built per test."""
    return hostile_app.test_client()


def feedback_rows(app) -> int:
    return app.extensions["ddi_cds"].feedback.count()


def post(client, path: str, body: Any, content_type: str | None = "application/json"):
    if isinstance(body, bytes):
        data = body
    else:  # json.dumps keeps a lone surrogate as its \\ud800 escape, as a hostile EHR would send
        data = json.dumps(body).replace(json.dumps(DEEP), "[" * 5000 + "]" * 5000)
    return client.post(path, data=data, content_type=content_type)


def check_answer(response, allowed: set[int], schema_validator) -> Any:
    """The properties every answer has; returns the JSON body."""
    assert response.status_code in allowed, (response.status_code, response.get_data()[:500])
    assert response.mimetype == "application/json"
    body = json.loads(response.get_data())
    if response.status_code == 200:
        return body
    assert body["resourceType"] == "OperationOutcome", body
    issue = body["issue"][0]
    assert isinstance(issue["diagnostics"], str) and issue["diagnostics"].strip(), body
    assert issue["severity"] in {"error", "fatal"}
    return body


# --- strategies ---------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(ODD_TEXT + ODD_CODES)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)


codes = st.sampled_from(KNOWN_CODES) | st.sampled_from(ODD_CODES) | st.text(max_size=12)
codeable_concepts = st.builds(concept, codes, st.sampled_from([RXNORM, NDC, "urn:x", ""])) | (
    st.fixed_dictionaries({"text": st.text(max_size=30) | st.sampled_from(ODD_TEXT)})
)


def fhir_resources(depth: int = 2) -> st.SearchStrategy[dict]:
    """FHIR-like resources: a resourceType, then any of the fields the service reads, with
    values right or wrong; `contained` nests more of them."""
    optional: dict[str, st.SearchStrategy] = {
        "id": st.text(min_size=1, max_size=10) | json_scalars,
        "status": st.sampled_from(["draft", "active", "stopped", "entered-in-error"]) | json_values,
        "intent": st.just("order") | json_values,
        "subject": st.just({"reference": "Patient/p1"}) | json_values,
        "medicationCodeableConcept": codeable_concepts | json_values,
        "medicationReference": st.fixed_dictionaries(
            {"reference": st.sampled_from(["#m1", "Medication/m1", "", "#"]) | st.text()},
            optional={"display": st.text(max_size=40)},
        )
        | json_values,
        "code": codeable_concepts,
        "dosageInstruction": st.lists(
            st.fixed_dictionaries({}, optional={"route": codeable_concepts, "text": st.text()})
            | json_values,
            max_size=2,
        ),
        "entry": st.lists(json_values, max_size=2),
    }
    if depth > 0:
        optional["contained"] = st.lists(fhir_resources(depth - 1) | json_values, max_size=2)
    resource_type = st.sampled_from(RESOURCE_TYPES) | st.text(max_size=12) | json_scalars
    return st.fixed_dictionaries({"resourceType": resource_type}, optional=optional)


@st.composite
def hook_skeletons(draw, *, clean: bool = False) -> tuple[str, dict]:
    """A hook request for a service with real and unknown drugs: valid when `clean`, else with
    random FHIR-like resources among the drafts and in the prefetch."""
    service_id = draw(st.sampled_from(SERVICE_IDS))
    drafts = [medication_request(draw(codes), rid=f"d{n}") for n in range(draw(st.integers(1, 4)))]
    current = st.lists(st.builds(medication_request, codes, rid=st.just("c1")), max_size=3)
    if not clean:
        for draft in drafts:
            draft["contained"] = draw(st.lists(fhir_resources(0), max_size=2))
        drafts += draw(st.lists(fhir_resources(), max_size=2))
        current = st.lists(
            st.builds(medication_request, codes, rid=st.just("c1")) | fhir_resources(), max_size=3
        )
    context: dict[str, Any] = {
        "userId": "Practitioner/1",
        "patientId": draw(st.sampled_from(["p1", "Patient-2"])),
        "encounterId": "e1",
        ORDERS_FIELD[service_id]: bundle(drafts) if draw(st.booleans()) else drafts,
    }
    if HOOK_OF[service_id] == "order-select":
        context["selections"] = ["MedicationRequest/d0"]
    prefetch_value = (
        st.none()
        | current.map(lambda rs: bundle(rs, "searchset"))
        | st.just({"resourceType": "OperationOutcome", "issue": []})
        | current.map(lambda rs: {"response": {"status": "200"}, "resource": bundle(rs)})
    )
    if not clean:
        prefetch_value |= fhir_resources()
    body = {
        "hook": HOOK_OF[service_id],
        "hookInstance": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "context": context,
        "prefetch": draw(
            st.fixed_dictionaries(
                {"medicationRequests": prefetch_value, "medicationStatements": prefetch_value},
                optional={"patient": prefetch_value, "item1": prefetch_value},
            )
        ),
    }
    return service_id, body


@st.composite
def feedback_skeletons(draw) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    overridden = {
        "card": str(uuid.uuid4()),
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": "http://example.org/reasons", "code": "benefit"},
            "userComment": "clinically necessary",
        },
        "outcomeTimestamp": now,
    }
    accepted = {
        "card": str(uuid.uuid4()),
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
        "outcomeTimestamp": now,
    }
    items = draw(st.lists(st.sampled_from([overridden, accepted]), min_size=1, max_size=3))
    return {"feedback": json.loads(json.dumps(items))}


huge_strings = st.sampled_from([10_000, 100_000]).map(lambda n: "\U0001f48a" * n)
hostile_values = (
    json_values
    | huge_strings
    | st.sampled_from(ODD_TEXT + ODD_CODES)
    | st.just(DEEP)
    | st.integers(min_value=-(10**300), max_value=10**300)
    | fhir_resources()
    | st.lists(fhir_resources(0), min_size=20, max_size=80)
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw, document: Any) -> Any:
    """`document` with one to three of its nodes replaced, deleted, or given an extra key."""
    for _ in range(draw(st.integers(1, 3))):
        # A fresh copy each time: strategies hand out shared objects (st.just, sampled_from),
        # and the same one may sit twice in a document; changing it in place changes both.
        document = json.loads(json.dumps(document))
        path = draw(st.sampled_from(_paths(document)))
        if not path:
            return draw(hostile_values)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=12))] = draw(hostile_values)
        else:
            parent[path[-1]] = draw(hostile_values)
    return document


# --- arbitrary input ----------------------------------------------------------------------------


@BOUNDED
@given(service_id=st.sampled_from([*SERVICE_IDS, "no-such-service"]), body=json_values)
def test_any_json_hook_body_gets_a_documented_answer(client, schema_validator, service_id, body):
    response = post(client, f"/cds-services/{service_id}", body)
    answer = check_answer(response, HOOK_STATUSES, schema_validator)
    if response.status_code == 200:
        schema_validator("response", answer)


@BOUNDED
@given(service_id=st.sampled_from([*SERVICE_IDS, "no-such-service"]), body=json_values)
def test_any_json_feedback_body_gets_a_documented_answer_and_stores_only_valid_items(
    hostile_app, client, schema_validator, service_id, body
):
    before = feedback_rows(hostile_app)
    response = post(client, f"/cds-services/{service_id}/feedback", body)
    answer = check_answer(response, FEEDBACK_STATUSES, schema_validator)
    stored = feedback_rows(hostile_app) - before
    assert stored == (len(body["feedback"]) if response.status_code == 200 else 0)
    assert response.status_code != 200 or answer == {}


@BOUNDED
@given(
    path=st.sampled_from(["/cds-services/ddi-order-sign", "/cds-services/ddi-order-sign/feedback"]),
    raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/fhir+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            None,
        ]
    ),
)
@example(  # an integer literal longer than Python's 4300-digit conversion limit
    path="/cds-services/ddi-order-sign", raw=b'{"hook": ' + b"9" * 5000 + b"}",
    content_type="application/json",
)  # fmt: skip
@example(
    path="/cds-services/ddi-order-sign/feedback", raw=b'{"feedback": ' + b"9" * 5000 + b"}",
    content_type="application/json",
)  # fmt: skip
def test_bytes_that_are_not_json_get_400_or_415(
    hostile_app, client, schema_validator, path, raw, content_type
):
    before = feedback_rows(hostile_app)
    response = post(client, path, raw, content_type)
    allowed = FEEDBACK_STATUSES if path.endswith("/feedback") else HOOK_STATUSES
    check_answer(response, allowed, schema_validator)
    if response.status_code != 200:
        assert feedback_rows(hostile_app) == before


# --- near-valid requests ------------------------------------------------------------------------


@BOUNDED
@given(request=hook_skeletons(clean=True))
def test_valid_skeletons_are_answered_with_cards(client, schema_validator, request):
    """The baseline the mutations start from: every skeleton is a request the service answers
    200 (unknown codes and odd resources are reported on a card, not refused)."""
    service_id, body = request
    response = post(client, f"/cds-services/{service_id}", body)
    answer = check_answer(response, {200}, schema_validator)
    schema_validator("response", answer)


@pytest.mark.slow  # fuzzing: 150 mutated requests
@settings(BOUNDED, max_examples=150)
@given(data=st.data(), request=hook_skeletons())
def test_mutated_hook_requests_get_a_documented_answer(client, schema_validator, data, request):
    service_id, body = request
    body = data.draw(mutated(body), label="mutated body")
    response = post(client, f"/cds-services/{service_id}", body)
    answer = check_answer(response, HOOK_STATUSES, schema_validator)
    if response.status_code == 200:
        schema_validator("response", answer)


@pytest.mark.slow  # fuzzing: 150 mutated feedback bodies
@settings(BOUNDED, max_examples=150)
@given(data=st.data(), body=feedback_skeletons(), service_id=st.sampled_from(SERVICE_IDS))
def test_mutated_feedback_gets_a_documented_answer_and_rejected_feedback_stores_nothing(
    hostile_app, client, schema_validator, data, body, service_id
):
    body = data.draw(mutated(body), label="mutated body")
    before = feedback_rows(hostile_app)
    response = post(client, f"/cds-services/{service_id}/feedback", body)
    check_answer(response, FEEDBACK_STATUSES, schema_validator)
    stored = feedback_rows(hostile_app) - before
    if response.status_code == 200:
        assert stored == len(body["feedback"])
    else:
        assert stored == 0


# --- what the fuzzing found, kept as plain examples --------------------------------------------


def test_a_contained_resource_of_an_unknown_type_is_not_a_server_error(client, schema_validator):
    order = medication_request(WARFARIN_1MG, rid="d1", contained=[{"resourceType": "Foo"}])
    body = hook_request("order-sign", [order], prefetch=null_prefetch())
    response = post(client, "/cds-services/ddi-order-sign", body)
    check_answer(response, HOOK_STATUSES, schema_validator)


def test_a_coding_system_that_is_not_text_is_not_a_server_error(client, schema_validator):
    coding = {"system": [], "code": WARFARIN}
    order = medication_request(None, rid="d1", medicationCodeableConcept={"coding": [coding]})
    body = hook_request("order-sign", [order], prefetch=null_prefetch())
    response = post(client, "/cds-services/ddi-order-sign", body)
    check_answer(response, HOOK_STATUSES, schema_validator)


def test_a_lone_surrogate_in_the_patient_id_is_not_a_server_error(client, schema_validator):
    body = hook_request(
        "order-sign",
        [medication_request(WARFARIN_1MG, rid="d1")],
        prefetch=null_prefetch(),
        patient_id="p\ud800",
    )
    response = post(client, "/cds-services/ddi-order-sign", body)
    check_answer(response, HOOK_STATUSES, schema_validator)


def test_a_lone_surrogate_in_feedback_is_a_bad_request_not_a_storage_failure(
    hostile_app, client, schema_validator
):
    item = {
        "card": str(uuid.uuid4()),
        "outcome": "overridden",
        "overrideReason": {"userComment": "why\ud800"},
        "outcomeTimestamp": "2024-05-01T10:00:00Z",
    }
    before = feedback_rows(hostile_app)
    response = post(client, "/cds-services/ddi-order-sign/feedback", {"feedback": [item]})
    check_answer(response, FEEDBACK_STATUSES, schema_validator)
    assert feedback_rows(hostile_app) == before
