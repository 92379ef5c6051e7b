"""JWT verification, done by every service itself (the gateway only forwards).

The caller of the current RPC is kept in a context variable by the auth
middleware; servicers read it with `current_caller()`.
"""

import hmac
import json
import logging
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jwt

from mesh.config import AuthConfig, ConfigError
from mesh.errors import Reason, Unauthenticated, Unavailable

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
CLOCK_SKEW_SECONDS = 60
# Users are stored by their `sub` (owner and author columns of this width).
MAX_SUBJECT_CHARS = 255
BEARER = "Bearer "
# Verified tokens remembered per process (each until it expires).
VERIFIED_TOKENS_KEPT = 10_000
# Fetching the identity provider's keys gives up well within the gateway's
# shortest route timeout (10 s): a call answers 503, not the gateway's 504.
JWKS_TIMEOUT_SECONDS = 3
# Set only by services calling each other; the gateway strips them from callers.
SERVICE_TOKEN_HEADER = "x-mesh-service-token"
ON_BEHALF_OF_HEADER = "x-mesh-on-behalf-of"


@dataclass(frozen=True)
class Caller:
    user_id: str
    token: str


_caller: ContextVar[Caller | None] = ContextVar("caller", default=None)


def current_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise Unauthenticated("no authenticated caller for this call", reason=Reason.TOKEN_MISSING)
    return caller


def set_caller(caller: Caller | None) -> Any:
    return _caller.set(caller)


def reset_caller(token: Any) -> None:
    _caller.reset(token)


class VerifiedTokens:
    """Tokens already verified, each until it expires: a client sends the same
    token with every call, and checking its signature again is most of the
    cost of authenticating a call. Bounded; the oldest entry goes first."""

    def __init__(self, capacity: int, clock: Callable[[], float] = lambda: time.time()) -> None:
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Caller | None:
        with self._lock:
            entry = self._entries.get(token)
        if entry is None or self._clock() >= entry[1]:
            return None  # an expired token is verified again, and refused
        return entry[0]

    def put(self, token: str, caller: Caller, valid_until: float) -> None:
        with self._lock:
            self._entries[token] = (caller, valid_until)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


class TokenVerifier:
    """Checks signature, issuer, audience and expiry against a JWKS."""

    def __init__(self, config: AuthConfig) -> None:
        self._issuer = config.issuer
        self._audience = config.audience
        self._jwks_client = (
            jwt.PyJWKClient(config.jwks_url, timeout=JWKS_TIMEOUT_SECONDS)
            if config.jwks_url
            else None
        )
        self._keys: jwt.PyJWKSet | None = None
        self._verified = VerifiedTokens(VERIFIED_TOKENS_KEPT)
        if self._jwks_client is None:
            self._keys = jwt.PyJWKSet.from_dict(json.loads(config.jwks_path.read_text()))

    def verify(self, authorization: str | None) -> Caller:
        token = _bearer_token(authorization)
        caller = self._verified.get(token)
        if caller is None:
            caller, expires_at = self._verify(token)
            self._verified.put(token, caller, expires_at + CLOCK_SKEW_SECONDS)
        return caller

    def _verify(self, token: str) -> tuple[Caller, float]:
        """The caller the token names and when it expires; or why it is no good."""
        try:
            key = self._signing_key(token)
            claims = jwt.decode(
                token,
                key.key,
                # The key decides the algorithm, never the token's header: a header
                # claiming RS256 for an EC key is refused, not tried.
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError as error:
            # The identity provider's keys cannot be fetched: not the caller's fault.
            log.warning("cannot fetch the JWKS: %s", error)
            raise Unavailable(
                "the identity provider's keys are unavailable", reason=Reason.IDENTITY_UNAVAILABLE
            ) from None
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated(f"invalid token: {error}", reason=Reason.TOKEN_EXPIRED) from None
        except jwt.PyJWTError as error:
            raise _invalid(f"invalid token: {error}") from None
        except Exception:
            # A token crafted to trip the library is still only an invalid token.
            log.warning("token verification failed unexpectedly", exc_info=True)
            raise _invalid("invalid token: it cannot be verified") from None
        return Caller(user_id=_subject(claims), token=token), float(claims["exp"])

    def _signing_key(self, token: str) -> jwt.PyJWK:
        if self._jwks_client is not None:
            key = self._jwks_client.get_signing_key_from_jwt(token)
        else:
            key = self._local_key(jwt.get_unverified_header(token).get("kid"))
        if key.algorithm_name not in ALGORITHMS:
            raise jwt.InvalidKeyError(f"the key's algorithm {key.algorithm_name} is not accepted")
        return key

    def _local_key(self, kid: object) -> jwt.PyJWK:
        assert self._keys is not None
        for key in self._keys.keys:
            if key.key_id == kid:
                return key
        raise jwt.InvalidKeyError(f"unknown key id {kid!r}")


def _subject(claims: dict[str, Any]) -> str:
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip():
        raise _invalid("invalid token: empty subject")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise _invalid(f"invalid token: the subject is longer than {MAX_SUBJECT_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in subject):
        raise _invalid("invalid token: the subject contains control characters")
    return subject


def _bearer_token(authorization: str | None) -> str:
    """The token of `Bearer <token>`, spelled exactly so, as the gateway reads it:
    one rule at both layers, so no request is accepted by one and refused by the other."""
    if not authorization:
        raise Unauthenticated("missing bearer token", reason=Reason.TOKEN_MISSING)
    token = authorization.removeprefix(BEARER)
    if token == authorization or not token or token != token.strip() or " " in token:
        raise _invalid("authorization must be 'Bearer <token>'")
    return token


def _invalid(message: str) -> Unauthenticated:
    return Unauthenticated(message, reason=Reason.TOKEN_INVALID)


class ServiceCredential:
    """The shared secret by which one service of the mesh vouches for a call."""

    def __init__(self, config: AuthConfig) -> None:
        try:
            self._token = config.service_token_path.read_text().strip()
        except OSError as error:
            raise ConfigError(
                f"SERVICE_TOKEN_PATH: cannot read {config.service_token_path} ({error.strerror})"
            ) from None
        if len(self._token) < 32:
            raise ConfigError(
                f"SERVICE_TOKEN_PATH: {config.service_token_path} holds under 32 characters"
            )

    def metadata(self) -> tuple[str, str]:
        return (SERVICE_TOKEN_HEADER, self._token)

    def presented_in(self, metadata: dict[str, str]) -> bool:
        presented = metadata.get(SERVICE_TOKEN_HEADER, "")
        return hmac.compare_digest(presented.encode(), self._token.encode())
