"""The EHR token matrix (CDS Hooks 2.0 security): each case with its verdict, against a JWKS
served over real HTTP on loopback, the real Redis for replays, and the spec's own example."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from prometheus_client import REGISTRY

from cds_service.config import Settings
from cds_service.protocol.auth import (
    JtiStore,
    JwksCache,
    ReplayCheckUnavailable,
    TokenRejected,
    TokenVerifier,
    TrustedIssuer,
    load_trusted_issuers,
    trusted_issuers,
)
from tests.conftest import EXAMPLES

ISSUER = "https://ehr.example.org/"
AUDIENCE = "https://cds.example.org/cds-services/ddi-order-sign"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())


def public_jwk(key, kid: str, algorithm: str) -> dict:
    maker = (
        jwt.algorithms.ECAlgorithm if algorithm.startswith("ES") else jwt.algorithms.RSAAlgorithm
    )
    entry = json.loads(maker.to_jwk(key.public_key()))
    return {**entry, "kid": kid, "alg": algorithm, "use": "sig"}


JWKS = {"keys": [public_jwk(EC_KEY, "ec-1", "ES384"), public_jwk(RSA_KEY, "rsa-1", "RS384")]}
ROTATED_KEY = ec.generate_private_key(ec.SECP384R1())
ROGUE_JWKS = {"keys": [public_jwk(OTHER_EC_KEY, "ec-1", "ES384")]}


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[str]:
    """Serves /jwks (the issuer's keys) and /rogue (an attacker's) on loopback."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(JWKS if self.path == "/jwks" else ROGUE_JWKS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def verifier(jwks_server: str) -> TokenVerifier:
    issuer = TrustedIssuer(
        ISSUER, jwks_url=f"{jwks_server}/jwks", jku_allowed=(f"{jwks_server}/jwks",)
    )
    store = JtiStore(redis.Redis.from_url("redis://127.0.0.1:6379/0"))
    return TokenVerifier([issuer], JwksCache(), store)


def token(
    key=EC_KEY, algorithm: str = "ES384", kid: str = "ec-1", headers: dict | None = None, **claims
) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300,
               "jti": str(uuid.uuid4())} | claims  # fmt: skip
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid, **(headers or {})})


def bearer(value: str) -> str:
    return f"Bearer {value}"


def test_valid_es384_passes(verifier):
    assert verifier.verify(bearer(token()), AUDIENCE).issuer == ISSUER


def test_valid_rs384_passes(verifier):
    assert verifier.verify(bearer(token(RSA_KEY, "RS384", "rsa-1")), AUDIENCE).issuer == ISSUER


def test_jku_on_the_allow_list_passes(verifier, jwks_server):
    signed = token(headers={"jku": f"{jwks_server}/jwks"})
    assert verifier.verify(bearer(signed), AUDIENCE)


def unsigned(**claims) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": "x"} | claims
    return f"{part({'alg': 'none', 'kid': 'ec-1'})}.{part(payload)}."


def tampered() -> str:
    header, payload, signature = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["aud"] = AUDIENCE  # same audience, a changed subject
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def hs256_with_public_key() -> str:
    public_pem = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": "h"}
    header = {"alg": "HS256", "kid": "ec-1", "typ": "JWT"}

    def part(data: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    import hashlib
    import hmac

    signing_input = part(header) + b"." + part(payload)
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("expired", lambda s: token(exp=int(time.time()) - 120, iat=int(time.time()) - 420)),
        ("future iat", lambda s: token(iat=int(time.time()) + 600, exp=int(time.time()) + 900)),
        ("wrong aud", lambda s: token(aud="https://cds.example.org/cds-services/other")),
        ("wrong iss", lambda s: token(iss="https://evil.example.org/")),
        ("unknown kid", lambda s: token(kid="nobody")),
        ("alg none", lambda s: unsigned()),
        ("HS256 with the public key as secret", lambda s: hs256_with_public_key()),
        ("tampered payload", lambda s: tampered()),
        ("jku off the allow-list", lambda s: token(headers={"jku": f"{s}/rogue"})),
        ("signed by another key", lambda s: token(OTHER_EC_KEY)),
        ("no jti", lambda s: jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "iat": int(time.time()),
             "exp": int(time.time()) + 300},
            EC_KEY, algorithm="ES384", headers={"kid": "ec-1"})),
        ("not a JWT", lambda s: "abc.def"),
    ],
)  # fmt: skip
def test_bad_tokens_are_rejected(verifier, jwks_server, case, make):
    with pytest.raises(TokenRejected):
        verifier.verify(bearer(make(jwks_server)), AUDIENCE)


def test_a_replayed_jti_is_rejected(verifier):
    signed = token()
    verifier.verify(bearer(signed), AUDIENCE)
    with pytest.raises(TokenRejected, match="jti already used"):
        verifier.verify(bearer(signed), AUDIENCE)


def test_replays_are_refused_without_redis_too(jwks_server):
    issuer = TrustedIssuer(ISSUER, jwks_url=f"{jwks_server}/jwks")
    closed = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.05)
    verifier = TokenVerifier([issuer], JwksCache(), JtiStore(closed))
    signed = token()
    verifier.verify(bearer(signed), AUDIENCE)
    with pytest.raises(TokenRejected, match="jti already used"):
        verifier.verify(bearer(signed), AUDIENCE)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer "])
def test_missing_or_other_authorization_is_rejected(verifier, header):
    with pytest.raises(TokenRejected):
        verifier.verify(header, AUDIENCE)


@pytest.mark.shared
def test_the_spec_example_token_verifies_but_is_expired():
    folder = EXAMPLES / "spec-2.0" / "jwt"
    example = (folder / "example-jwt.txt").read_text().strip()
    payload = json.loads((folder / "jwt-payload.json").read_text())
    jwks = jwt.PyJWKSet.from_dict(json.loads((folder / "jwks-public.json").read_text()))
    # The signature is genuine: it checks out with expiry ignored ...
    jwt.decode(example, jwks["example-kid"], algorithms=["ES384"],
               audience=payload["aud"], options={"verify_exp": False})  # fmt: skip
    # ... and the service refuses it, because it expired in 2015 (its `jku` host does not
    # exist: the issuer's keys are pinned as a local file).
    issuer = TrustedIssuer(
        payload["iss"],
        jwks_file=Path(folder / "jwks-public.json"),
        jku_allowed=("https://fhir-ehr.example.com/jwk_uri",),
    )
    verifier = TokenVerifier([issuer], JwksCache(), JtiStore(None))
    with pytest.raises(TokenRejected, match="ExpiredSignatureError"):
        verifier.verify(bearer(example), payload["aud"])


def test_a_new_kid_makes_the_key_set_refetch_once(jwks_server):
    """Key rotation: the issuer publishes a new key; the first token signed with it triggers a
    refetch, a token with a kid that still is not there does not refetch again at once."""
    fetches = []
    cache = JwksCache(min_refresh_s=60.0)
    real_load = cache._load
    cache._load = lambda source, timeout: fetches.append(source) or real_load(source, timeout)  # type: ignore
    issuer = TrustedIssuer(ISSUER, jwks_url=f"{jwks_server}/jwks")
    verifier = TokenVerifier([issuer], cache, JtiStore(None))
    verifier.verify(bearer(token()), AUDIENCE)
    JWKS["keys"].append(public_jwk(ROTATED_KEY, "ec-2", "ES384"))
    try:
        cache.min_refresh_s = 0.0
        assert verifier.verify(bearer(token(ROTATED_KEY, kid="ec-2")), AUDIENCE)
        cache.min_refresh_s = 60.0
        with pytest.raises(TokenRejected, match="no key"):
            verifier.verify(bearer(token(kid="ec-9")), AUDIENCE)
    finally:
        JWKS["keys"].pop()
    assert len(fetches) == 2


# --- lifetime, replay store outages, the issuers file ------------------------------------------


class RecordingRedis:
    """Stands in for Redis: records each SET's expiry, or fails as a Redis that is down."""

    def __init__(self, down: bool = False) -> None:
        self.down, self.expiries = down, []

    def set(self, key, value, nx, ex):
        if self.down:
            raise redis.ConnectionError("down")
        self.expiries.append(ex)
        return True


def local_verifier(store: JtiStore) -> TokenVerifier:
    issuer = TrustedIssuer(ISSUER, jwks_file=None, jwks_url="unused")
    verifier = TokenVerifier([issuer], JwksCache(), store)
    verifier._key_source = lambda issuer, jku: "keys"  # type: ignore[method-assign]
    verifier.jwks._sets["keys"] = (time.monotonic(), {"ec-1": jwt.PyJWK(JWKS["keys"][0])})
    return verifier


@pytest.mark.parametrize(
    "lifetime", [301, 3600, 10 * 365 * 24 * 3600], ids=["5 min 1 s", "1 h", "10 years"]
)
def test_a_token_living_longer_than_5_minutes_is_refused(lifetime):
    store = RecordingRedis()
    verifier = local_verifier(JtiStore(store))
    now = int(time.time())
    with pytest.raises(TokenRejected, match="lives"):
        verifier.verify(bearer(token(iat=now, exp=now + lifetime)), AUDIENCE)
    assert store.expiries == []  # nothing remembered for it


def test_the_replay_key_lives_no_longer_than_the_token_can_be_used():
    store = RecordingRedis()
    verifier = local_verifier(JtiStore(store))
    now = int(time.time())
    verifier.verify(bearer(token(iat=now, exp=now + 300)), AUDIENCE)
    verifier.verify(bearer(token(iat=now - 200, exp=now + 60)), AUDIENCE)
    # exp plus the 30 s leeway (a token is accepted that long), plus a second of rounding
    assert 330 <= store.expiries[0] <= 332
    assert 90 <= store.expiries[1] <= 92


def fallbacks() -> float:
    return REGISTRY.get_sample_value("ddi_cds_replay_store_fallbacks_total") or 0.0


def test_redis_down_hook_calls_fall_back_to_memory_counted_feedback_fails_closed():
    verifier = local_verifier(JtiStore(RecordingRedis(down=True)))
    before = fallbacks()
    signed = token()
    assert verifier.verify(bearer(signed), AUDIENCE)
    assert fallbacks() == before + 1
    with pytest.raises(TokenRejected, match="jti already used"):  # still once per process
        verifier.verify(bearer(signed), AUDIENCE)
    with pytest.raises(ReplayCheckUnavailable):
        verifier.verify(bearer(token()), AUDIENCE, writes=True)


def test_one_process_without_redis_is_its_own_shared_store():
    for store in (JtiStore(RecordingRedis(down=True)), JtiStore(None)):
        verifier = local_verifier(store)
        signed = token()
        assert verifier.verify(bearer(signed), AUDIENCE, writes=True, one_process=True)
        with pytest.raises(TokenRejected, match="jti already used"):
            verifier.verify(bearer(signed), AUDIENCE, writes=True, one_process=True)
        with pytest.raises(ReplayCheckUnavailable):  # several processes: feedback refused
            verifier.verify(bearer(token()), AUDIENCE, writes=True)


def write_issuers(tmp_path: Path, **entry) -> Path:
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([{"iss": ISSUER, "jwks_url": "https://ehr.example.org/k"} | entry]))
    return path


def test_an_issuer_lists_the_fhir_servers_its_tokens_may_name(tmp_path):
    servers = ["https://ehr.example.org/fhir/", "https://ehr.example.org:8443/r4"]
    (issuer,) = load_trusted_issuers(write_issuers(tmp_path, fhir_servers=servers))
    assert issuer.fhir_servers == (
        "https://ehr.example.org/fhir",
        "https://ehr.example.org:8443/r4",
    )
    (none,) = load_trusted_issuers(write_issuers(tmp_path))
    assert none.fhir_servers == ()


@pytest.mark.parametrize(
    "server",
    [
        "http://ehr.example.org/fhir",
        "https://ehr.example.org/fhir?x=1",
        "https://user:pw@ehr.example.org/fhir",
        "https://ehr.example.org/fhir/../admin",
        "ftp://ehr.example.org/fhir",
        7,
    ],
)
def test_an_issuers_file_with_a_bad_fhir_server_stops_the_start(tmp_path, server):
    with pytest.raises(ValueError, match="fhir_servers"):
        load_trusted_issuers(write_issuers(tmp_path, fhir_servers=[server]))


def test_issuers_without_a_public_base_url_stop_the_start(tmp_path):
    issuers = write_issuers(tmp_path)
    with pytest.raises(ValueError, match="DDI_CDS_PUBLIC_BASE_URL must be set"):
        trusted_issuers(Settings(trusted_issuers_file=issuers))
    assert trusted_issuers(Settings(trusted_issuers_file=issuers, public_base_url="https://c.x"))
    assert trusted_issuers(Settings()) == []  # no issuer: starts, every call refused
