"""Redis with a password and over TLS, on redis-server processes started by the tests: the
service's clients use them, a wrong CA or host name is refused, and the password in the URL
never reaches the log or /readyz."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from cds_service.adapters.prediction_cache import PredictionCache, cache_key, request_path_client
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.tls_certificates import write_certificates

KEY = bytes(range(32))
PASSWORD = "5ecret-" + "9" * 24  # recognisable in any text it leaks into
VECTOR = np.linspace(0, 1, 963, dtype=np.float32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., int]]:
    """Starts a redis-server with the given options on a free port; stopped at teardown."""
    processes: list[subprocess.Popen] = []

    def start(*options: str) -> int:
        port = free_port()
        listen = ["--port", str(port)] if "--tls-port" not in options else []
        args = [
            option.replace("{port}", str(port)) for option in options
        ]  # a TLS port is given as {port}
        process = subprocess.Popen(
            ["redis-server", *listen, *args, "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(process)
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_a_password_in_the_url_is_used_and_never_shown(tmp_path, start_redis, caplog):
    port = start_redis("--requirepass", PASSWORD)
    key = cache_key("test-auth", "a", "b")
    good = PredictionCache(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", key=KEY)
    good.put_many({key: VECTOR})
    assert good.ping().redis == "up"
    assert set(PredictionCache(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", key=KEY).get_many([key]))

    wrong = "redis://:wrong-" + PASSWORD + f"@127.0.0.1:{port}/0"
    with caplog.at_level(logging.DEBUG):
        client = create_app(
            Settings(auth_disabled=True, data_dir=tmp_path, redis_url=wrong, model_enabled=False)
        ).test_client()
        ready = client.get("/readyz")
    assert ready.json["redis"]["state"] == "down"
    assert "AuthenticationError" in ready.json["redis"]["detail"]
    assert PASSWORD not in ready.get_data(as_text=True)
    assert caplog.records and not any(PASSWORD in r.getMessage() for r in caplog.records)


@pytest.fixture
def tls_redis(tmp_path, start_redis) -> tuple[int, Path]:
    ca, cert, private_key = write_certificates(tmp_path, for_ip_address=False)
    port = start_redis(
        "--port", "0", "--tls-port", "{port}", "--tls-cert-file", str(cert),
        "--tls-key-file", str(private_key), "--tls-ca-cert-file", str(ca),
        "--tls-auth-clients", "no", "--requirepass", PASSWORD,
    )  # fmt: skip
    return port, ca


def test_rediss_with_the_ca_file_works_and_checks_the_server(tls_redis, tmp_path):
    port, ca = tls_redis
    url = f"rediss://:{PASSWORD}@localhost:{port}/0"
    key = cache_key("test-tls", "a", "b")
    cache = PredictionCache(url, key=KEY, ca_file=ca)
    cache.put_many({key: VECTOR})
    reader = PredictionCache(url, key=KEY, ca_file=ca)
    assert np.allclose(reader.get_many([key])[key], VECTOR, atol=1e-3)
    assert reader.state().hits_redis == 1

    untrusted = PredictionCache(url, key=KEY).ping()  # the system's CAs do not know this CA
    assert untrusted.redis == "down" and untrusted.detail.startswith("ConnectionError")
    other_name = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"  # the certificate is for localhost
    mismatch = PredictionCache(other_name, key=KEY, ca_file=ca).ping()
    assert mismatch.redis == "down" and PASSWORD not in mismatch.detail
    plain = PredictionCache(f"redis://:{PASSWORD}@localhost:{port}/0", key=KEY)
    assert plain.ping().redis == "down"  # no cleartext on the TLS port

    client = create_app(
        Settings(
            auth_disabled=True,
            data_dir=tmp_path,
            redis_url=url,
            redis_ca_file=ca,
            model_enabled=False,
        )
    ).test_client()
    assert client.get("/readyz").json["redis"] == {"state": "up"}


def test_a_ca_file_needs_a_tls_url_and_an_existing_file(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    with pytest.raises(ValueError, match="not rediss://") as refused:
        request_path_client(f"redis://:{PASSWORD}@127.0.0.1:1/0", 0.05, ca)
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match="not a readable file"):
        request_path_client("rediss://127.0.0.1:1/0", 0.05, tmp_path / "missing.pem")
    assert Settings.from_env({"DDI_CDS_REDIS_CA_FILE": str(ca)}).redis_ca_file == ca
