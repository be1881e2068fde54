"""What anyone can reach without an EHR token is bounded (docs/security.md): the try-it page is
off in production unless switched on, takes a few medications and a few checks at once; the open
endpoints share a rate limit the hook calls never wait on; /explain is computed once per pair;
/metrics stays off the public port; CORS only where the spec needs it."""

from __future__ import annotations

import secrets

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import IBUPROFEN, WARFARIN
from cds_service.web.open_limits import EXTENSION
from cds_service.web.rate_limit import TokenBucket

SIGN = "/cds-services/ddi-order-sign"
HTML = {"Accept": "text/html"}


def _app(tmp_path, **settings):
    return create_app(Settings(auth_disabled=True, data_dir=tmp_path, redis_url="", **settings))


def _production(tmp_path, **settings):
    keys = {"pseudonym_key": secrets.token_hex(32), "audit_key": secrets.token_hex(32)}
    return _app(tmp_path, production=True, **keys, **settings)


def _form(count: int) -> dict:
    return {"medication": [f"warfarin {n}" for n in range(count)], "role": ["new"] * count}


def test_the_try_it_page_is_off_in_production_unless_switched_on(tmp_path):
    assert _app(tmp_path / "dev").test_client().get("/").status_code == 200
    production = _production(tmp_path / "prod").test_client()
    assert production.get("/").status_code == 404
    assert production.post("/", data=_form(1)).status_code == 404
    shown = _production(tmp_path / "demo", try_it_page=True).test_client()
    assert shown.get("/").status_code == 200
    assert Settings.from_env({"DDI_CDS_TRY_IT_PAGE": "false"}).try_it_enabled is False


def test_the_try_it_check_takes_a_bounded_number_of_medications(tmp_path):
    client = _app(tmp_path, try_it_max_entries=3).test_client()
    assert client.post("/", data=_form(3), headers=HTML).status_code == 200
    refused = client.post("/", data=_form(4), headers=HTML)
    assert refused.status_code == 400
    assert b"at most 3 medications" in refused.data


def test_the_try_it_check_runs_a_bounded_number_of_times_at_once(tmp_path):
    app = _app(tmp_path, try_it_max_concurrent=1)
    running = app.extensions[EXTENSION].try_it_checks
    assert running.acquire(blocking=False)  # one check in progress
    try:
        busy = app.test_client().post("/", data=_form(1), headers=HTML)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert b"busy" in busy.data
    finally:
        running.release()
    assert app.test_client().post("/", data=_form(1), headers=HTML).status_code == 200


def test_open_endpoints_share_a_rate_limit_that_hook_calls_never_meet(tmp_path):
    client = _app(tmp_path, open_requests_per_s=0.01, open_burst=2).test_client()
    assert client.get("/medication-names?q=warf").status_code == 200
    assert client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}&format=json").status_code == 200
    throttled = client.get("/medication-names?q=ibup")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.get_json()["issue"][0]["code"] == "throttled"
    for _ in range(3):  # the hook calls carry the warnings: never throttled here
        answer = client.post(SIGN, json=order_sign_by_codes([WARFARIN], [IBUPROFEN]))
        assert answer.status_code == 200


def test_an_explanation_is_computed_once_per_pair_and_effect(tmp_path, monkeypatch):
    app = _app(tmp_path)
    predictions = app.extensions["ddi_cds"].engine.predictions
    calls = []
    real = predictions.explain

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(predictions, "explain", counted)
    client = app.test_client()
    first = client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}&format=json")
    again = client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}&format=json")
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert len(calls) == 1


def test_cors_is_on_the_cds_hooks_endpoints_only(tmp_path):
    client = _app(tmp_path).test_client()
    origin = {"Origin": "https://ehr.example"}
    assert client.get("/cds-services", headers=origin).headers["Access-Control-Allow-Origin"]
    for path in ("/", f"/explain?a={WARFARIN}&b={IBUPROFEN}", "/healthz", "/metrics"):
        assert "Access-Control-Allow-Origin" not in client.get(path, headers=origin).headers
    preflight = client.options(SIGN, headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert client.options("/", headers=origin).status_code != 204


@pytest.mark.parametrize("production", [False, True])
def test_metrics_are_served_on_their_own_port_only(tmp_path, production):
    settings = {"metrics_port": 9464} if not production else {}
    app = _production(tmp_path, **settings) if production else _app(tmp_path, **settings)
    client = app.test_client()
    metrics_port = {"SERVER_PORT": "9464"}
    assert client.get("/metrics", environ_overrides={"SERVER_PORT": "8080"}).status_code == 404
    assert client.get("/metrics", environ_overrides=metrics_port).status_code == 200
    assert client.get("/readyz", environ_overrides=metrics_port).status_code == 200
    for path in ("/cds-services", "/", "/explain"):
        assert client.get(path, environ_overrides=metrics_port).status_code == 404


def test_metrics_stay_on_the_service_port_in_development_by_default(tmp_path):
    assert _app(tmp_path).test_client().get("/metrics").status_code == 200


def test_a_token_bucket_allows_its_burst_then_its_rate():
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() == 0.0
    now[0] += 100.0  # a long quiet spell refills the burst, no more
    assert [bucket.take() for _ in range(4)][-1] > 0.0
