"""An EHR's signing key for tests that call the service over HTTP as an EHR would."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://ehr.test.example/"
KID = "test-ehr-1"
_KEY = ec.generate_private_key(ec.SECP384R1())


def write_trust(folder: Path, fhir_servers: Sequence[str] = ()) -> Path:
    """The EHR's public key set and a trusted-issuers file naming it, and the FHIR servers
    (https bases) its tokens may name; returns the issuers file."""
    folder.mkdir(parents=True, exist_ok=True)
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(_KEY.public_key()))
    (folder / "ehr-jwks.json").write_text(
        json.dumps({"keys": [{**public, "kid": KID, "alg": "ES384", "use": "sig"}]})
    )
    issuers = folder / "trusted-issuers.json"
    entry = {"iss": ISSUER, "jwks_file": "ehr-jwks.json", "fhir_servers": list(fhir_servers)}
    issuers.write_text(json.dumps([entry]))
    return issuers


def authorization(audience: str, **claims: Any) -> dict[str, str]:
    """The Authorization header an EHR sends to `audience` (the endpoint's URL)."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300,
               "jti": str(uuid.uuid4())} | claims  # fmt: skip
    signed = jwt.encode(payload, _KEY, algorithm="ES384", headers={"kid": KID})
    return {"Authorization": f"Bearer {signed}"}
