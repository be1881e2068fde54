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

from cds_service.auth import (
    JtiStore,
    JwksCache,
    TokenRejected,
    TokenVerifier,
    TrustedIssuer,
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
