"""Optional suppression at order-sign of cards shown at order-select, on the real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from cds_service.config import Settings
from cds_service.web import create_app
from tests.conftest import hook_request, medication_request

WARFARIN, IBUPROFEN = "11289", "5640"


def request(hook: str, encounter: str, user: str = "Practitioner/1") -> dict:
    body = hook_request(
        hook,
        [medication_request(WARFARIN, rid="w")],
        current=[medication_request(IBUPROFEN, rid="i", status="active")],
    )
    body["context"].update({"encounterId": encounter, "userId": user})
    return body


def warned_at_sign(client, encounter: str, user: str = "Practitioner/1") -> bool:
    """Whether order-sign shows the warfarin + ibuprofen card."""
    signed = summaries(client, request("order-sign", encounter, user))
    return any("ibuprofen" in s.lower() for s in signed)


def summaries(client, body: dict) -> list[str]:
    service = "ddi-order-select" if body["hook"] == "order-select" else "ddi-order-sign"
    response = client.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 200, response.json
    return [c["summary"] for c in response.json["cards"]]


@pytest.fixture
def encounter() -> str:
    return f"enc-{uuid.uuid4().hex}"  # a fresh encounter: no key left by another run


def test_a_card_shown_at_order_select_is_not_repeated_at_order_sign(tmp_path, encounter):
    client = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, suppress_repeat_cards=True)
    ).test_client()
    shown = summaries(client, request("order-select", encounter))
    assert any(s.startswith("Warfarin + ibuprofen") for s in shown)
    assert not warned_at_sign(client, encounter)
    # Another encounter, or another clinician, sees it again at order-sign.
    assert warned_at_sign(client, encounter + "x")
    assert warned_at_sign(client, encounter, user="Practitioner/2")
    keys = list(redis.Redis.from_url("redis://127.0.0.1:6379/0").scan_iter("ddi-cds:shown:*"))
    assert keys and not any(b"enc-" in k or b"11289" in k for k in keys)  # hashed


def test_off_by_default(tmp_path, encounter):
    client = create_app(Settings(auth_disabled=True, data_dir=tmp_path)).test_client()
    summaries(client, request("order-select", encounter))
    assert warned_at_sign(client, encounter)


def test_with_redis_down_cards_are_shown_again(tmp_path, encounter):
    settings = Settings(
        auth_disabled=True,
        data_dir=tmp_path,
        suppress_repeat_cards=True,
        redis_url="redis://127.0.0.1:1/0",
    )
    client = create_app(settings).test_client()
    summaries(client, request("order-select", encounter))
    assert warned_at_sign(client, encounter)
