"""The pair-prediction cache against the real Redis at 127.0.0.1:6379, a Redis server started and
stopped by the test, and a closed port."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from cds_service.adapters.prediction_cache import (
    INTEGRITY_LABEL,
    MAC_BYTES,
    PredictionCache,
    RedisMac,
    cache_key,
    integrity_key,
)
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.hook_requests import hook_request, medication_request
from cds_service.testing.rxcui import ASPIRIN, LEVOTHYROXINE, WARFARIN

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = bytes(range(32))  # the MAC key of the caches built here (create_app derives its own)
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def warfarin_with_aspirin() -> dict:
    """An order-sign call: a warfarin draft, aspirin among the current medications (a curated
    card that carries the model's line: a gastrointestinal bleed neither drug explains alone)."""
    return hook_request(
        "order-sign",
        [medication_request(WARFARIN, rid="w")],
        current=[medication_request(ASPIRIN, rid="i", status="active")],
    )


def probabilities(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(963).astype(np.float32)


@pytest.fixture
def version() -> str:
    """A model version no other test uses, so keys never collide on the shared Redis."""
    return f"test-{uuid.uuid4().hex[:12]}"


def test_a_miss_then_a_hit_from_redis_in_another_process_cache(version):
    key = cache_key(version, "CID000006691", "CID000003672")
    writer = PredictionCache(REDIS_URL, key=KEY)
    assert writer.get_many([key]) == {}
    writer.put_many({key: probabilities(1)})
    reader = PredictionCache(REDIS_URL, key=KEY)  # a second worker: empty local cache
    found = reader.get_many([key])
    assert np.allclose(found[key], probabilities(1), atol=1e-3)  # float16 in Redis
    state = reader.state()
    assert (state.hits_redis, state.hits_local, state.misses) == (1, 0, 0)
    assert reader.get_many([key]) and reader.state().hits_local == 1  # now held locally
    assert 0 < redis.Redis.from_url(REDIS_URL).ttl(key) <= writer.ttl_s


def test_the_pair_is_stored_once_whatever_its_order(version):
    assert cache_key(version, "a", "b") == cache_key(version, "b", "a")


def test_a_new_model_version_does_not_read_the_old_ones_entries(version):
    cache = PredictionCache(REDIS_URL, key=KEY)
    cache.put_many({cache_key(version, "x", "y"): probabilities(2)})
    fresh = PredictionCache(REDIS_URL, key=KEY)
    assert fresh.get_many([cache_key(version + "-next", "x", "y")]) == {}
    assert fresh.state().misses == 1


def test_the_local_cache_is_bounded():
    cache = PredictionCache(None, key=KEY, local_entries=2)
    cache.put_many({k: probabilities(i) for i, k in enumerate("abc")})
    assert set(cache.get_many(["a", "b", "c"])) == {"b", "c"}


def test_a_closed_port_is_a_miss_and_opens_the_breaker():
    now = [0.0]
    cache = PredictionCache(
        CLOSED_PORT_URL, key=KEY, breaker_failures=3, breaker_cooldown_s=5.0, clock=lambda: now[0]
    )
    for _ in range(3):
        assert cache.get_many(["k"]) == {}
    cache.put_many({"k": probabilities(3)})  # breaker open: kept locally, Redis not called
    assert cache.state().redis_errors == 3
    state = cache.state()
    assert state.redis == "down" and "left alone" in state.detail
    assert set(cache.get_many(["k"])) == {"k"}  # answered from the in-process cache
    now[0] = 6.0  # past the cool-down: Redis is tried again
    cache.get_many(["other"])
    assert cache.state().redis_errors == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, callable]]:
    """A Redis server of the test's own, which the test may stop and start again."""
    port = _free_port()
    processes: list[subprocess.Popen] = []

    def start() -> None:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(process)
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop() -> None:
        processes[-1].terminate()
        processes[-1].wait(timeout=10)

    start()
    yield f"redis://127.0.0.1:{port}/0", (start, stop)
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def test_redis_stopped_mid_test_and_the_hook_still_answers(tmp_path, own_redis):
    url, (start, stop) = own_redis
    client = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, redis_url=url)
    ).test_client()
    body = warfarin_with_aspirin()
    first = client.post("/cds-services/ddi-order-sign", json=body)
    assert first.status_code == 200
    assert client.get("/readyz").json["redis"] == {"state": "up"}
    assert redis.Redis.from_url(url).dbsize() >= 1  # the pair's prediction went to Redis

    stop()
    again = client.post("/cds-services/ddi-order-sign", json=body)
    assert again.status_code == 200
    assert [(c["summary"], c["detail"]) for c in again.json["cards"]] == [
        (c["summary"], c["detail"]) for c in first.json["cards"]
    ]
    assert "**Model signal:**" in again.json["cards"][0]["detail"]
    other = hook_request(  # a pair never seen: computed by the model, Redis down
        "order-sign",
        [medication_request(WARFARIN, rid="w")],
        current=[medication_request("7258", rid="n", status="active")],  # naproxen
    )
    assert client.post("/cds-services/ddi-order-sign", json=other).status_code == 200
    ready = client.get("/readyz").json
    assert ready["status"] == "ready" and ready["redis"]["state"] == "down"

    start()
    assert client.get("/readyz").json["redis"] == {"state": "up"}  # the probe closes the breaker


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


def test_a_hanging_redis_costs_its_timeout_then_is_left_alone(silent_redis):
    cache = PredictionCache(silent_redis, key=KEY, timeout_s=0.05, breaker_failures=2)
    started = time.perf_counter()
    for _ in range(2):
        assert cache.get_many(["k"]) == {}
    hung = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(20):  # breaker open: Redis is not called at all
        assert cache.get_many(["k"]) == {}
    left_alone = time.perf_counter() - started
    assert cache.state().redis_errors == 2 and cache.state().redis == "down"
    assert hung < 2.0 and left_alone < hung  # bounds against a hang, not a benchmark


def test_the_hook_answers_while_redis_hangs(tmp_path, silent_redis):
    client = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, redis_url=silent_redis)
    ).test_client()
    body = warfarin_with_aspirin()
    for _ in range(3):
        response = client.post("/cds-services/ddi-order-sign", json=body)
        assert response.status_code == 200
        assert "**Model signal:**" in response.json["cards"][0]["detail"]
    assert client.get("/readyz").json["redis"]["state"] == "down"


def test_the_redis_url_comes_from_the_conventional_variable_too():
    assert Settings.from_env({"REDIS_URL": "redis://cache:6379/2"}).redis_url == (
        "redis://cache:6379/2"
    )
    both = {"REDIS_URL": "redis://a:6379/0", "DDI_CDS_REDIS_URL": "redis://b:6379/0"}
    assert Settings.from_env(both).redis_url == "redis://b:6379/0"  # the service's own wins
    assert Settings.from_env({}).redis_url == "redis://127.0.0.1:6379/0"


def metric(text: str, name: str) -> float:
    (line,) = [x for x in text.splitlines() if x.startswith(name + " ") or x.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_report_the_cache_and_redis_state(tmp_path):
    body = warfarin_with_aspirin()
    up = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, redis_url=REDIS_URL)
    ).test_client()
    local_hits = 'ddi_cds_prediction_cache_lookups_total{result="local"}'
    before = metric(up.get("/metrics").get_data(as_text=True), local_hits)
    for _ in range(2):
        assert up.post("/cds-services/ddi-order-sign", json=body).status_code == 200
    text = up.get("/metrics").get_data(as_text=True)
    assert metric(text, local_hits) >= before + 1  # the second call's pair
    assert metric(text, "ddi_cds_redis_up") == 1.0
    assert 'ddi_cds_model_loaded{version="deside-' in text

    down = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, redis_url=CLOSED_PORT_URL)
    ).test_client()
    errors_before = metric(
        down.get("/metrics").get_data(as_text=True), "ddi_cds_redis_errors_total"
    )
    assert down.post("/cds-services/ddi-order-sign", json=body).status_code == 200
    text = down.get("/metrics").get_data(as_text=True)
    assert metric(text, "ddi_cds_redis_up") == 0.0
    assert metric(text, "ddi_cds_redis_errors_total") >= errors_before + 1


@pytest.mark.parametrize("garbage", [b"x", b"not a prediction", b""])
def test_a_foreign_value_under_a_key_is_a_miss_not_an_error(tmp_path, garbage):
    app = create_app(Settings(auth_disabled=True, data_dir=tmp_path, redis_url=REDIS_URL))
    client = app.test_client()
    body = warfarin_with_aspirin()
    expected = client.post("/cds-services/ddi-order-sign", json=body).json["cards"][0]["detail"]
    store = redis.Redis.from_url(REDIS_URL)
    version = app.extensions["ddi_cds"].model_version
    key = cache_key(version, "CID000006691", "CID000002244")  # warfarin, aspirin
    store.set(key, garbage, ex=60)
    app.extensions["ddi_cds"].cache.clear_local()
    again = client.post("/cds-services/ddi-order-sign", json=body)
    assert again.status_code == 200 and again.json["cards"][0]["detail"] == expected
    assert app.extensions["ddi_cds"].cache.state().rejected >= 1
    assert len(store.get(key)) == MAC_BYTES + 2 * 963  # rewritten with the model's own value


# Cached values are authenticated: Redis decides what a card says, so what it returns must have
# been written by the service (an HMAC-SHA-256 over the key and the value).

FORGED = np.full(963, 0.999, dtype="<f2").tobytes()  # "100 %" for every side effect


def rejected_total(client) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    found = [
        x
        for x in text.splitlines()
        if x.startswith('ddi_cds_cache_rejected_total{store="prediction"}')
    ]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_a_forged_vector_under_a_real_pair_key_is_ignored_and_counted(version):
    key = cache_key(version, "CID000006691", "CID000003672")  # warfarin, ibuprofen
    store = redis.Redis.from_url(REDIS_URL)
    store.set(key, FORGED, ex=60)  # what the attacker wrote: no MAC
    cache = PredictionCache(REDIS_URL, key=KEY)
    assert cache.get_many([key]) == {}
    state = cache.state()
    assert (state.rejected, state.misses, state.hits_redis) == (1, 1, 0)

    store.set(key, RedisMac(b"a guessed key, 16+ bytes").seal(key, FORGED), ex=60)
    assert cache.get_many([key]) == {} and cache.state().rejected == 2  # MAC of another key
    store.set(key, bytes(MAC_BYTES) + FORGED, ex=60)
    assert cache.get_many([key]) == {} and cache.state().rejected == 3  # a zero MAC


def test_a_genuine_value_round_trips_and_one_bit_changed_does_not(version):
    key = cache_key(version, "a", "b")
    PredictionCache(REDIS_URL, key=KEY).put_many({key: probabilities(4)})
    store = redis.Redis.from_url(REDIS_URL)
    genuine = store.get(key)
    assert len(genuine) == MAC_BYTES + 2 * 963
    reader = PredictionCache(REDIS_URL, key=KEY)
    assert np.allclose(reader.get_many([key])[key], probabilities(4), atol=1e-3)

    flipped = bytearray(genuine)
    flipped[-1] ^= 1
    store.set(key, bytes(flipped), ex=60)
    fresh = PredictionCache(REDIS_URL, key=KEY)
    assert fresh.get_many([key]) == {} and fresh.state().rejected == 1


def test_a_genuine_value_replayed_under_another_key_is_rejected(version):
    source = cache_key(version, "a", "b")
    PredictionCache(REDIS_URL, key=KEY).put_many({source: probabilities(5)})
    store = redis.Redis.from_url(REDIS_URL)
    genuine = store.get(source)
    other_pair = cache_key(version, "a", "c")
    other_model = cache_key(version + "-next", "a", "b")
    for target in (other_pair, other_model):
        store.set(target, genuine, ex=60)
    reader = PredictionCache(REDIS_URL, key=KEY)
    assert set(reader.get_many([source, other_pair, other_model])) == {source}
    assert (reader.state().rejected, reader.state().hits_redis) == (2, 1)


def test_another_key_reads_nothing_the_first_wrote(version):
    key = cache_key(version, "a", "b")
    PredictionCache(REDIS_URL, key=KEY).put_many({key: probabilities(6)})
    rotated = PredictionCache(REDIS_URL, key=bytes(32))  # e.g. the pseudonym key was changed
    assert rotated.get_many([key]) == {} and rotated.state().rejected == 1


def test_the_in_process_cache_holds_no_mac():
    cache = PredictionCache(None, key=KEY)
    cache.put_many({"k": probabilities(7)})
    assert np.allclose(cache.get_many(["k"])["k"], probabilities(7), atol=1e-3)


def test_rejections_are_logged_at_most_once_a_minute(version, caplog):
    now = [0.0]
    cache = PredictionCache(REDIS_URL, key=KEY, clock=lambda: now[0])
    keys = [cache_key(version, "x", str(i)) for i in range(3)]
    store = redis.Redis.from_url(REDIS_URL)
    for key in keys:
        store.set(key, FORGED, ex=60)
    with caplog.at_level(logging.WARNING, logger="cds_service.cache"):
        cache.get_many(keys)  # logged at once
        now[0] = 30.0
        cache.get_many(keys)  # counted, not logged
        now[0] = 61.0
        cache.get_many(keys)  # logged with the count since
    logged = [r.getMessage() for r in caplog.records if "failed verification" in r.getMessage()]
    assert [m.split(" ", 1)[0] for m in logged] == ["3", "6"]
    assert cache.state().rejected == 9
    assert all(keys[0] in m for m in logged)


def test_the_mac_key_is_derived_from_the_pseudonym_key_unless_set():
    pseudonym = bytes(range(32, 64))
    derived = integrity_key("", pseudonym)
    assert derived == hmac.new(pseudonym, INTEGRITY_LABEL, hashlib.sha256).digest()
    assert derived != pseudonym and integrity_key("", bytes(32)) != derived
    assert integrity_key("ab" * 16, pseudonym) == bytes.fromhex("ab" * 16)
    with pytest.raises(ValueError, match="hexadecimal"):
        integrity_key("not hex", pseudonym)
    with pytest.raises(ValueError, match="16 bytes"):
        integrity_key("abcd", pseudonym)
    assert Settings.from_env({"DDI_CDS_CACHE_KEY": "ab" * 16}).cache_key == "ab" * 16


ALLOPURINOL = "519"


def shows_the_forgery(card: dict) -> bool:
    return "model predicts" in card["summary"] or "probability 100%" in card.get("detail", "")


def test_a_forged_prediction_never_reaches_a_card(tmp_path, monkeypatch):
    """The finding: 0.999 written under allopurinol + levothyroxine's key made the service
    answer "model predicts acute pancreatitis (100%, life-threatening)". Model-only cards are on
    here, so that a forged value that got through would make one."""
    app = create_app(
        Settings(
            auth_disabled=True,
            data_dir=tmp_path,
            redis_url=REDIS_URL,
            prediction_own_cards=True,
        )
    )
    client = app.test_client()
    cache = app.extensions["ddi_cds"].cache
    asked: list[str] = []
    get_many = cache.get_many

    def spy(keys):
        asked.extend(keys)
        return get_many(keys)

    monkeypatch.setattr(cache, "get_many", spy)
    body = hook_request(
        "order-sign",
        [medication_request(ALLOPURINOL, rid="a")],
        current=[medication_request(LEVOTHYROXINE, rid="l", status="active")],
    )
    first = client.post("/cds-services/ddi-order-sign", json=body)
    assert first.status_code == 200
    (key,) = set(asked)
    store = redis.Redis.from_url(REDIS_URL)
    assert len(store.get(key)) == MAC_BYTES + 2 * 963  # written, sealed
    rejected_before = rejected_total(client), cache.state().rejected  # a run before wrote it

    store.set(key, FORGED, ex=60)
    cache.clear_local()  # another worker, or a restart: only Redis holds the pair
    forged = client.post("/cds-services/ddi-order-sign", json=body)
    assert forged.status_code == 200
    assert forged.json["cards"] == [
        {**c, "uuid": forged.json["cards"][i]["uuid"]} for i, c in enumerate(first.json["cards"])
    ]
    assert not any(shows_the_forgery(c) for c in forged.json["cards"])
    assert (rejected_total(client), cache.state().rejected) == tuple(n + 1 for n in rejected_before)
    assert PredictionCache(REDIS_URL, key=KEY).get_many([key]) == {}  # rewritten, sealed
    assert len(store.get(key)) == MAC_BYTES + 2 * 963

    # The control: the same numbers, had they been accepted, make the finding's card.
    cache.put_many({key: np.full(963, 0.999, dtype=np.float32)})
    accepted = client.post("/cds-services/ddi-order-sign", json=body).json["cards"]
    store.delete(key)
    assert any(shows_the_forgery(c) for c in accepted)


def test_replicas_sharing_the_pseudonym_key_share_the_cache(tmp_path, version):
    pseudonym = "cd" * 32

    def app(name: str, key: str):
        return (
            create_app(
                Settings(
                    auth_disabled=True,
                    data_dir=tmp_path / name,
                    redis_url=REDIS_URL,
                    pseudonym_key=key,
                    model_enabled=False,
                )
            )
            .extensions["ddi_cds"]
            .cache
        )

    key = cache_key(version, "a", "b")
    app("one", pseudonym).put_many({key: probabilities(8)})
    assert set(app("two", pseudonym).get_many([key])) == {key}
    other = app("three", "ef" * 32)
    assert other.get_many([key]) == {} and other.state().rejected == 1
