"""The HTTP surface: discovery, CORS, health, readiness, errors as OperationOutcomes."""

import pytest

from cds_service.adapters.model_predictions import load_predictor
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.protocol.services import SERVICES
from cds_service.testing.hook_requests import hook_request, medication_request, null_prefetch


def test_discovery_lists_one_service_per_hook(client, schema_validator):
    response = client.get("/cds-services")
    assert response.status_code == 200
    schema_validator("discovery", response.json)
    services = response.json["services"]
    assert {s["hook"] for s in services} == {"order-select", "order-sign", "medication-prescribe"}
    for service in services:
        assert service["prefetch"]["medicationRequests"].startswith(
            "MedicationRequest?patient={{context.patientId}}"
        )
        assert "medicationStatements" in service["prefetch"]
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"


def test_cors_headers_and_preflight(client):
    response = client.options(
        "/cds-services/ddi-order-sign",
        headers={"Origin": "https://ehr.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert client.get("/cds-services").headers["Access-Control-Allow-Origin"] == "*"


def test_cors_can_be_limited_to_listed_origins(tmp_path):
    app = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, cors_allow_origin="https://a.example")
    )
    client = app.test_client()
    allowed = client.get("/cds-services", headers={"Origin": "https://a.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://a.example"
    other = client.get("/cds-services", headers={"Origin": "https://b.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_health_and_readiness_with_redis_up(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz").json
    assert ready["status"] == "ready"
    assert ready["drugIndex"]["version"].startswith("drugindex-")
    assert ready["knowledge"]["version"].startswith("interactions-")
    assert ready["model"] == {"loaded": True, "version": load_predictor().version}
    assert ready["redis"] == {"state": "up"}  # the real Redis at 127.0.0.1:6379


def test_readiness_reports_redis_down_and_hooks_still_answer(tmp_path):
    app = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    )
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["redis"]["state"] == "down"
    body = hook_request(
        "order-sign",
        [medication_request("855288", rid="w")],
        current=[medication_request("310965", rid="i", status="active")],
    )
    assert client.post("/cds-services/ddi-order-sign", json=body).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nowhere", 404, "not-found"),
        ("post", "/cds-services/unknown-service", 404, "not-found"),
        ("get", "/cds-services/ddi-order-sign", 405, "not-supported"),
        ("put", "/cds-services", 405, "not-supported"),
    ],
)
def test_errors_are_operation_outcomes(client, method, path, status, code):
    response = getattr(client, method)(path, json={})
    assert response.status_code == status
    assert response.json["resourceType"] == "OperationOutcome"
    assert response.json["issue"][0]["code"] == code
    cors = response.headers.get("Access-Control-Allow-Origin")
    assert cors == ("*" if path.startswith("/cds-services") else None)  # CORS: hooks only


def test_every_service_answers_its_own_hook_only(client):
    for service in SERVICES:
        other = next(s for s in SERVICES if s.hook != service.hook)
        body = hook_request(other.hook, [medication_request("855288", rid="w")], current=[])
        if other.orders_field == "medications":
            body["context"]["medications"] = body["context"].pop("draftOrders")
        response = client.post(f"/cds-services/{service.id}", json=body)
        assert response.status_code == 400
        assert f"answers the {service.hook!r} hook" in response.json["issue"][0]["diagnostics"]


def test_patient_identifiers_and_tokens_are_not_logged(client, caplog):
    body = hook_request(
        "order-sign",
        [medication_request("855288", rid="w")],
        fhir_server="http://127.0.0.1:1/fhir",
        fhir_token="SECRET-TOKEN",
        patient_id="PATIENT-12345",
        prefetch=null_prefetch(),
    )
    with caplog.at_level("DEBUG"):
        assert client.post("/cds-services/ddi-order-sign", json=body).status_code == 200
    assert caplog.records
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "PATIENT-12345" not in text and "SECRET-TOKEN" not in text
