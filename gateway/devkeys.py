"""The dev identity: an ES256 key pair made once under the data dir, and tokens.

Stands in for an OIDC issuer locally and in tests; production points
JWKS_URL, JWT_ISSUER and JWT_AUDIENCE at the real one.
"""

import json
import os
import secrets
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.settings import Settings

TOKEN_TTL_SECONDS = 3600
KEY_ID = "dev-1"


def ensure_dev_keys(settings: Settings) -> None:
    """Create the key pair, its JWKS and the service token if they do not exist yet."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.service_token_path.exists():
        _write_atomically(
            settings.service_token_path, secrets.token_urlsafe(32).encode(), mode=0o600
        )
    if settings.private_key_path.exists() and settings.jwks_path.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public, "kid": KEY_ID, "alg": "ES256", "use": "sig"}]}
    _write_atomically(settings.private_key_path, pem, mode=0o600)
    _write_atomically(settings.jwks_path, json.dumps(jwks, indent=2).encode(), mode=0o644)


def mint_token(settings: Settings, user_id: str, ttl_seconds: int = TOKEN_TTL_SECONDS) -> str:
    """A token for `user_id` that the local gateway and services accept."""
    ensure_dev_keys(settings)
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    key = settings.private_key_path.read_bytes()
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": KEY_ID})


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.chmod(mode)
    temporary.replace(path)
