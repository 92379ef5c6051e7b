"""Reading configuration from the environment, once, with clear failures.

Each service has one config module that builds a frozen dataclass through
`Env`; nothing else reads `os.environ`. A missing or malformed value raises
`ConfigError` naming the variable, and the service exits with that one line.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DATA_DIR_DEFAULT = ".data"
DEFAULT_ISSUER = "media-mesh-dev"
DEFAULT_AUDIENCE = "media-mesh"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable."""


class Env:
    """Typed reads of environment variables, each with a working default."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def text(self, name: str, default: str) -> str:
        value = self._environ.get(name, "").strip()
        return value or default

    def optional(self, name: str) -> str | None:
        return self._environ.get(name, "").strip() or None

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value

    def port(self, name: str, default: int) -> int:
        value = self.integer(name, default, minimum=1)
        if value > 65535:
            raise ConfigError(f"{name} must be a TCP port (1-65535), got {value}")
        return value

    def url(self, name: str, default: str, *, schemes: tuple[str, ...]) -> str:
        value = self.text(name, default)
        scheme = urlparse(value).scheme
        if scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ConfigError(f"{name} must be a URL starting with {allowed}, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str = "") -> str:
        value = self.text(name, default)
        if value != default and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def items(self, name: str, default: list[str]) -> list[str]:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class ServerConfig:
    """Where a gRPC service listens and how many processes serve it."""

    host: str
    port: int
    processes: int
    threads: int
    grace_seconds: float

    @classmethod
    def from_env(cls, env: Env, port_variable: str, default_port: int) -> "ServerConfig":
        return cls(
            host=env.text("BIND_HOST", "127.0.0.1"),
            port=env.port(port_variable, default_port),
            processes=env.integer("SERVER_PROCESSES", os.cpu_count() or 1, minimum=1),
            threads=env.integer("SERVER_THREADS", 16, minimum=1),
            grace_seconds=float(env.integer("SHUTDOWN_GRACE_SECONDS", 10)),
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class MetricsConfig:
    """Where a process's Prometheus exporter listens, and where its processes
    keep their values (prometheus_client's multiprocess mode)."""

    host: str
    port: int
    directory: str | None  # None: a fresh temporary directory

    @classmethod
    def from_env(cls, env: Env, port_variable: str, default_port: int) -> "MetricsConfig":
        return cls(
            host=env.text("BIND_HOST", "127.0.0.1"),
            port=env.port(port_variable, default_port),
            directory=env.optional("PROMETHEUS_MULTIPROC_DIR"),
        )


@dataclass(frozen=True)
class AuthConfig:
    """Where the JWT keys come from and which tokens are ours."""

    jwks_url: str | None
    jwks_path: Path
    issuer: str
    audience: str
    service_token_path: Path  # the secret by which services vouch for internal calls

    @classmethod
    def from_env(cls, env: Env) -> "AuthConfig":
        data_dir = Path(env.text("DATA_DIR", DATA_DIR_DEFAULT))
        jwks_url = env.optional("JWKS_URL")
        if jwks_url:
            env.url("JWKS_URL", jwks_url, schemes=("https", "http"))
        return cls(
            jwks_url=jwks_url,
            jwks_path=Path(env.text("JWKS_PATH", str(data_dir / "dev-jwks.json"))),
            issuer=env.text("JWT_ISSUER", DEFAULT_ISSUER),
            audience=env.text("JWT_AUDIENCE", DEFAULT_AUDIENCE),
            service_token_path=Path(
                env.text("SERVICE_TOKEN_PATH", str(data_dir / "dev-service-token"))
            ),
        )


def database_url(env: Env, sqlite_file: str) -> str:
    """DATABASE_URL, or an SQLite file under DATA_DIR for the embedded mode."""
    data_dir = env.text("DATA_DIR", DATA_DIR_DEFAULT)
    default = f"sqlite:///{data_dir}/{sqlite_file}"
    return env.url("DATABASE_URL", default, schemes=("postgresql", "postgres", "sqlite"))
