"""Token verification as every service does it: forgeries are refused."""

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway import devkeys
from gateway.settings import Settings
from mesh.auth import JWKS_TIMEOUT_SECONDS, TokenVerifier
from mesh.config import AuthConfig, Env
from mesh.errors import Unauthenticated, Unavailable


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    devkeys.ensure_dev_keys(settings)
    return settings


@pytest.fixture
def verifier(settings: Settings) -> TokenVerifier:
    return TokenVerifier(AuthConfig.from_env(Env({"DATA_DIR": str(settings.data_dir)})))


def _claims(settings: Settings, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims = {
        "sub": "alice",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": now + 60,
    }
    return {**claims, **overrides}


def _signed(settings: Settings, claims: dict[str, object]) -> str:
    key = settings.private_key_path.read_bytes()
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": devkeys.KEY_ID})


def test_a_dev_token_names_its_user(settings: Settings, verifier: TokenVerifier):
    caller = verifier.verify(f"Bearer {devkeys.mint_token(settings, 'alice')}")

    assert caller.user_id == "alice"


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"exp": int(time.time()) - 120}, "Signature has expired"),
        ({"iss": "someone-else"}, "Invalid issuer"),
        ({"aud": "another-app"}, "Audience doesn't match"),
        ({"sub": ""}, "empty subject"),
    ],
)
def test_a_token_with_wrong_claims_is_refused(settings, verifier, overrides, reason):
    token = _signed(settings, _claims(settings, **overrides))

    with pytest.raises(Unauthenticated, match=reason):
        verifier.verify(f"Bearer {token}")


def test_an_expired_token_within_the_clock_skew_is_accepted(settings, verifier):
    token = _signed(settings, _claims(settings, exp=int(time.time()) - 30))

    assert verifier.verify(f"Bearer {token}").user_id == "alice"


def test_alg_none_is_refused(settings, verifier):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": devkeys.KEY_ID}).encode())
    payload = base64.urlsafe_b64encode(json.dumps(_claims(settings)).encode())
    token = f"{header.decode().rstrip('=')}.{payload.decode().rstrip('=')}."

    with pytest.raises(Unauthenticated):
        verifier.verify(f"Bearer {token}")


def test_hs256_signed_with_a_made_up_key_is_refused(settings, verifier):
    token = jwt.encode(
        _claims(settings),
        "made-up-secret-of-sufficient-length!",
        algorithm="HS256",
        headers={"kid": devkeys.KEY_ID},
    )

    with pytest.raises(Unauthenticated):
        verifier.verify(f"Bearer {token}")


def test_a_token_signed_by_another_key_is_refused(settings, verifier):
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        _claims(settings), stranger, algorithm="ES256", headers={"kid": devkeys.KEY_ID}
    )

    with pytest.raises(Unauthenticated, match="Signature verification failed"):
        verifier.verify(f"Bearer {token}")


def test_a_re_signed_payload_is_refused(settings, verifier):
    header, payload, signature = devkeys.mint_token(settings, "alice").split(".")
    forged = (
        base64.urlsafe_b64encode(json.dumps(_claims(settings, sub="mallory")).encode())
        .decode()
        .rstrip("=")
    )

    with pytest.raises(Unauthenticated):
        verifier.verify(f"Bearer {header}.{forged}.{signature}")


def test_a_header_claiming_rs256_for_the_ec_key_is_refused_not_an_error(settings, verifier):
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        _claims(settings), rsa_key, algorithm="RS256", headers={"kid": devkeys.KEY_ID}
    )

    with pytest.raises(Unauthenticated, match="The specified alg value is not allowed"):
        verifier.verify(f"Bearer {token}")


@pytest.mark.parametrize(
    "subject, reason",
    [
        ("x" * 256, "the subject is longer than 255 characters"),
        ("alice\x00", "the subject contains control characters"),
        ("   ", "empty subject"),
    ],
)
def test_a_subject_that_cannot_name_a_user_is_refused(settings, verifier, subject, reason):
    token = _signed(settings, _claims(settings, sub=subject))

    with pytest.raises(Unauthenticated, match=reason):
        verifier.verify(f"Bearer {token}")


def test_a_subject_of_255_characters_is_accepted(settings, verifier):
    token = _signed(settings, _claims(settings, sub="x" * 255))

    assert verifier.verify(f"Bearer {token}").user_id == "x" * 255


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic abc",
        "Bearer ",
        "token-without-scheme",
        "bearer {token}",
        "BEARER {token}",
        "Bearer  {token}",
        "Bearer {token} extra",
    ],
)
def test_a_missing_or_malformed_authorization_is_refused(settings, verifier, authorization):
    if authorization:
        authorization = authorization.format(token=devkeys.mint_token(settings, "alice"))

    with pytest.raises(Unauthenticated):
        verifier.verify(authorization)


def test_keys_can_come_from_an_identity_providers_jwks_url(settings: Settings):
    import http.server
    import threading

    jwks = settings.jwks_path.read_bytes()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
        verifier = TokenVerifier(
            AuthConfig.from_env(Env({"JWKS_URL": url, "DATA_DIR": "/nonexistent"}))
        )

        assert verifier.verify(f"Bearer {devkeys.mint_token(settings, 'carol')}").user_id == "carol"
    finally:
        server.shutdown()


def test_a_jwks_url_that_never_answers_is_unavailable_within_its_timeout(settings: Settings):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks.json"
        verifier = TokenVerifier(
            AuthConfig.from_env(Env({"JWKS_URL": url, "DATA_DIR": "/nonexistent"}))
        )
        started = time.monotonic()
        with pytest.raises(Unavailable) as refused:
            verifier.verify(f"Bearer {devkeys.mint_token(settings, 'dave')}")
        assert refused.value.message == "the identity provider's keys are unavailable"
        assert time.monotonic() - started < JWKS_TIMEOUT_SECONDS + 2  # not PyJWT's 30 s
    finally:
        silent.close()


def test_a_verified_token_is_remembered_until_it_expires(settings, verifier):
    from mesh.auth import Caller, VerifiedTokens

    now = [1000.0]
    tokens = VerifiedTokens(capacity=2, clock=lambda: now[0])
    alice = Caller(user_id="alice", token="t1")
    tokens.put("t1", alice, valid_until=1060.0)

    assert tokens.get("t1") is alice
    now[0] = 1060.0
    assert tokens.get("t1") is None


def test_the_remembered_tokens_are_bounded_oldest_first():
    from mesh.auth import Caller, VerifiedTokens

    tokens = VerifiedTokens(capacity=2)
    for name in ("t1", "t2", "t3"):
        tokens.put(name, Caller(user_id=name, token=name), valid_until=float("inf"))

    assert [tokens.get(t) is not None for t in ("t1", "t2", "t3")] == [False, True, True]


def test_a_remembered_token_still_names_its_user_and_a_bad_one_is_never_remembered(
    settings, verifier
):
    good = f"Bearer {devkeys.mint_token(settings, 'alice')}"
    bad = f"Bearer {_signed(settings, _claims(settings, aud='another-app'))}"

    assert verifier.verify(good).user_id == verifier.verify(good).user_id == "alice"
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="Audience doesn't match"):
            verifier.verify(bad)
