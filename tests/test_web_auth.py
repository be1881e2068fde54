"""EHR tokens on the HTTP API: hook and feedback calls need one, discovery does not."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from cds_service.app import create_app
from cds_service.cli import main as cli_main
from cds_service.config import Settings
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.hook_requests import hook_request, medication_request
from tests.conftest import EXAMPLES

SIGN_URL = "http://localhost/cds-services/ddi-order-sign"
FEEDBACK_URL = SIGN_URL + "/feedback"


def settings_for(tmp_path, **changes) -> Settings:
    return Settings(
        data_dir=tmp_path,
        trusted_issuers_file=write_trust(tmp_path / "trust"),
        public_base_url="http://localhost",
        **changes,
    )


@pytest.fixture
def client(tmp_path):
    return create_app(settings_for(tmp_path)).test_client()


def body() -> dict:
    return hook_request(
        "order-sign",
        [medication_request("11289", rid="w")],
        current=[medication_request("5640", rid="i", status="active")],
    )


def test_a_hook_call_without_a_token_gets_401_and_no_detail(client):
    response = client.post("/cds-services/ddi-order-sign", json=body())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["issue"][0]["diagnostics"] == "unauthorized"


def test_a_hook_call_with_the_ehrs_token_is_answered(client):
    response = client.post(
        "/cds-services/ddi-order-sign", json=body(), headers=authorization(SIGN_URL)
    )
    assert response.status_code == 200 and response.json["cards"]


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("token for another service", lambda: authorization(SIGN_URL.replace("sign", "select"))),
        ("expired", lambda: authorization(SIGN_URL, exp=1_000_000_000, iat=999_999_000)),
        ("not a bearer token", lambda: {"Authorization": "Basic dXNlcjpwYXNz"}),
    ],
)
def test_a_bad_token_gets_401(client, case, headers):
    response = client.post("/cds-services/ddi-order-sign", json=body(), headers=headers())
    assert response.status_code == 401 and response.json["issue"][0]["diagnostics"] == (
        "unauthorized"
    )


def test_a_replayed_token_gets_401(client):
    headers = authorization(SIGN_URL)
    assert (
        client.post("/cds-services/ddi-order-sign", json=body(), headers=headers).status_code == 200
    )
    assert (
        client.post("/cds-services/ddi-order-sign", json=body(), headers=headers).status_code == 401
    )


def test_feedback_needs_a_token_too(client):
    feedback = {"feedback": []}
    assert client.post("/cds-services/ddi-order-sign/feedback", json=feedback).status_code == 401
    answered = client.post(
        "/cds-services/ddi-order-sign/feedback", json=feedback, headers=authorization(FEEDBACK_URL)
    )
    assert answered.status_code != 401


def test_discovery_and_health_need_no_token(client):
    assert client.get("/cds-services").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_the_audience_is_the_public_url_behind_a_proxy(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        trusted_issuers_file=write_trust(tmp_path / "trust"),
        public_base_url="https://cds.hospital.example/",
    )
    client = create_app(settings).test_client()
    public = "https://cds.hospital.example/cds-services/ddi-order-sign"
    ok = client.post("/cds-services/ddi-order-sign", json=body(), headers=authorization(public))
    assert ok.status_code == 200
    internal = authorization(SIGN_URL)
    assert (
        client.post("/cds-services/ddi-order-sign", json=body(), headers=internal).status_code
        == 401
    )


def test_with_no_trusted_issuer_every_call_is_refused(tmp_path):
    client = create_app(Settings(data_dir=tmp_path)).test_client()
    headers = authorization(SIGN_URL)
    assert (
        client.post("/cds-services/ddi-order-sign", json=body(), headers=headers).status_code == 401
    )


@pytest.mark.shared
def test_the_spec_example_token_gets_401(tmp_path):
    folder = EXAMPLES / "spec-2.0" / "jwt"
    payload = json.loads((folder / "jwt-payload.json").read_text())
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps([{
        "iss": payload["iss"], "jwks_file": str(folder / "jwks-public.json"),
        "jku_allowed": ["https://fhir-ehr.example.com/jwk_uri"],
    }]))  # fmt: skip
    settings = Settings(
        data_dir=tmp_path,
        trusted_issuers_file=issuers,
        public_base_url="https://cds.example.org",
    )
    client = create_app(settings).test_client()
    example = (folder / "example-jwt.txt").read_text().strip()
    response = client.post(
        "/cds-services/ddi-order-sign", json=body(), headers={"Authorization": f"Bearer {example}"}
    )
    assert response.status_code == 401


def test_no_auth_refuses_a_non_loopback_address(capsys):
    assert cli_main(["serve", "--no-auth", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "refuses to bind" in capsys.readouterr().err


# --- the audience, the start, the replay store ------------------------------------------------


def test_the_audience_never_follows_the_host_header(client):
    """A token made out to another host, sent with that Host header, is not for this service."""
    evil = "http://evil.example/cds-services/ddi-order-sign"
    response = client.post(
        "/cds-services/ddi-order-sign",
        json=body(),
        headers={**authorization(evil), "Host": "evil.example"},
        base_url="http://evil.example",
    )
    assert response.status_code == 401


def test_issuers_without_a_public_url_stop_the_start(tmp_path, monkeypatch, capsys):
    trust = write_trust(tmp_path / "trust")
    with pytest.raises(ValueError, match="DDI_CDS_PUBLIC_BASE_URL must be set"):
        create_app(Settings(data_dir=tmp_path, trusted_issuers_file=trust))
    monkeypatch.setenv("DDI_CDS_TRUSTED_ISSUERS_FILE", str(trust))
    monkeypatch.setenv("DDI_CDS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DDI_CDS_PUBLIC_BASE_URL", raising=False)
    assert cli_main(["serve", "--host", "127.0.0.1", "--port", "0"]) == 2
    assert "DDI_CDS_PUBLIC_BASE_URL must be set" in capsys.readouterr().err


def fallbacks() -> float:
    return REGISTRY.get_sample_value("ddi_cds_replay_store_fallbacks_total") or 0.0


def test_redis_down_under_several_workers_hooks_answer_feedback_gets_503(tmp_path):
    client = create_app(settings_for(tmp_path, redis_url="redis://127.0.0.1:1/0")).test_client()
    several = {"wsgi.multiprocess": True}  # as gunicorn says with more than one worker
    before = fallbacks()

    hook = client.post(
        "/cds-services/ddi-order-sign",
        json=body(),
        headers=authorization(SIGN_URL),
        environ_overrides=several,
    )
    feedback = client.post(
        "/cds-services/ddi-order-sign/feedback",
        json={"feedback": []},
        headers=authorization(FEEDBACK_URL),
        environ_overrides=several,
    )

    assert hook.status_code == 200 and hook.json["cards"]
    assert fallbacks() == before + 1
    assert feedback.status_code == 503
    assert feedback.json["issue"][0]["diagnostics"] == "replay check unavailable; resend later"


def test_redis_down_in_one_process_feedback_is_still_checked_and_kept(tmp_path):
    client = create_app(settings_for(tmp_path, redis_url="redis://127.0.0.1:1/0")).test_client()
    headers = authorization(FEEDBACK_URL)
    first = client.post(
        "/cds-services/ddi-order-sign/feedback", json={"feedback": []}, headers=headers
    )
    again = client.post(
        "/cds-services/ddi-order-sign/feedback", json={"feedback": []}, headers=headers
    )
    assert first.status_code not in {401, 503}
    assert again.status_code == 401
