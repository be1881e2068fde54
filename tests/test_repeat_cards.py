"""Optional suppression at order-sign of cards shown at order-select, on the real Redis."""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest
import redis

from cds_service.adapters.prediction_cache import RedisMac
from cds_service.adapters.repeat_cards import ShownPairs
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.hook_requests import hook_request, medication_request
from cds_service.testing.rxcui import IBUPROFEN, WARFARIN

PATIENT = "p1"  # hook_request's


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


# A mark suppresses a warning, so Redis is not trusted with it: the key is an HMAC of the
# identifiers and the value the mark's expiry under an HMAC bound to the key.

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = bytes(range(32))


def suppressing_app(tmp_path, pseudonym_key: str = ""):
    app = create_app(
        Settings(
            auth_disabled=True,
            data_dir=tmp_path,
            suppress_repeat_cards=True,
            pseudonym_key=pseudonym_key,
        )
    )
    return app, app.extensions["ddi_cds"].engine.shown_pairs


def keys_asked(shown: ShownPairs, monkeypatch) -> dict[str, list[str]]:
    """The mark keys each of `mark` and `seen` is given, as the engine calls them."""
    asked: dict[str, list[str]] = {"mark": [], "seen": []}
    for name in asked:
        method = getattr(shown, name)

        def spy(keys, method=method, name=name):
            keys = list(keys)
            asked[name].extend(keys)
            return method(keys)

        monkeypatch.setattr(shown, name, spy)
    return asked


def rejected_marks(client) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    name = 'ddi_cds_cache_rejected_total{store="shown_card"}'
    found = [x for x in text.splitlines() if x.startswith(name)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_the_mark_key_is_keyed_so_guessed_ids_cannot_be_tested(tmp_path, encounter, monkeypatch):
    app, shown = suppressing_app(tmp_path)
    asked = keys_asked(shown, monkeypatch)
    summaries(app.test_client(), request("order-select", encounter))
    (key,) = asked["mark"]
    store = redis.Redis.from_url(REDIS_URL)
    assert store.exists(key)
    who = f"Practitioner/1|{PATIENT}|{encounter}"
    for pair in ([IBUPROFEN, WARFARIN], [WARFARIN, IBUPROFEN]):  # the former, unkeyed name
        plain = hashlib.sha256(f"{who}|{'|'.join(pair)}".encode()).hexdigest()
        assert not store.exists(f"ddi-cds:shown:{plain[:32]}")
    # The name depends on the key: another key names the same mark otherwise
    other_app, other = suppressing_app(tmp_path / "other", pseudonym_key="ef" * 32)
    other_asked = keys_asked(other, monkeypatch)
    summaries(other_app.test_client(), request("order-select", encounter))
    assert other_asked["mark"] and other_asked["mark"] != [key]


def test_a_forged_mark_does_not_suppress_the_card(tmp_path, encounter, monkeypatch):
    app, shown = suppressing_app(tmp_path)
    client = app.test_client()
    asked = keys_asked(shown, monkeypatch)
    assert warned_at_sign(client, encounter)
    (key,) = asked["seen"]
    store = redis.Redis.from_url(REDIS_URL)
    before = rejected_marks(client)
    future = (int(time.time()) + 900).to_bytes(8, "big")
    forgeries = [
        b"1",  # the former value
        future,  # an expiry without a MAC
        RedisMac(b"a guessed key, 16+ bytes").seal(key, future),
    ]
    for forged in forgeries:
        store.set(key, forged, ex=60)
        assert warned_at_sign(client, encounter)  # fail-safe: the card is shown
    assert rejected_marks(client) == before + len(forgeries)


def test_a_genuine_mark_copied_to_another_encounter_does_not_suppress(
    tmp_path, encounter, monkeypatch
):
    app, shown = suppressing_app(tmp_path)
    client = app.test_client()
    asked = keys_asked(shown, monkeypatch)
    summaries(client, request("order-select", encounter))
    assert not warned_at_sign(client, encounter)  # the genuine mark works
    (genuine_key,) = asked["mark"]
    other = encounter + "-other"
    assert warned_at_sign(client, other)
    other_key = asked["seen"][-1]
    store = redis.Redis.from_url(REDIS_URL)
    store.set(other_key, store.get(genuine_key), ex=60)
    assert warned_at_sign(client, other)


def test_a_mark_replayed_after_its_expiry_does_not_suppress():
    now = [1_000_000.0]
    shown = ShownPairs(REDIS_URL, key=KEY, ttl_s=900, clock=lambda: now[0])
    key = f"ddi-cds:shown:test-{uuid.uuid4().hex}"
    shown.mark([key])
    assert shown.seen([key]) == {key}
    value = redis.Redis.from_url(REDIS_URL).get(key)
    now[0] += 901  # Redis would have dropped it; set again as it was, it is past its expiry
    redis.Redis.from_url(REDIS_URL).set(key, value, ex=60)
    assert shown.seen([key]) == set()
