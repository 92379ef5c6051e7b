"""Settings of the local mesh: ports, identity, and which parts are embedded.

Read once from the environment (each with a default that works locally).
Services read their own settings; what the runner passes them is listed in
`LocalMesh.service_env`.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mesh.config import DEFAULT_AUDIENCE, DEFAULT_ISSUER, ConfigError, Env

ROOT = Path(__file__).resolve().parent.parent


Endpoint = tuple[str, int]  # (host, port) of one instance of a service


@dataclass(frozen=True)
class Settings:
    host: str  # where the local mesh's parts are reached (loopback)
    bind_host: str  # where Envoy listens (0.0.0.0 in a container)
    gateway_port: int
    admin_port: int
    media_port: int
    post_port: int
    reflection_port: int
    s3_port: int
    demo_port: int
    # Prometheus exporters of the first instance of each; others get free ports.
    media_metrics_port: int
    post_metrics_port: int
    worker_metrics_port: int
    data_dir: Path
    cors_origins: list[str]
    jwt_issuer: str
    jwt_audience: str
    jwks_url: str | None
    database_url: str | None  # None: SQLite files under data_dir
    broker_url: str | None  # None: in-process workers
    s3_endpoint_url: str | None  # None: start the embedded S3 server
    s3_bucket: str
    # The instances Envoy balances each service across (by their health); the
    # local mesh starts one per endpoint. Each service's row in
    # gateway/services.py names its field.
    media_upstreams: list[Endpoint]
    post_upstreams: list[Endpoint]
    traces_endpoint: Endpoint | None  # OTLP/gRPC collector for Envoy's spans; None: no traces
    # The descriptor set Envoy's config names: the repository's (`make protos`), or
    # DESCRIPTOR_SET_PATH, its path in the image, for a config rendered for a deploy.
    descriptor_set: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = Env(environ)
        demo_port = env.port("DEMO_PORT", 8000)
        default_origins = [f"http://127.0.0.1:{demo_port}", f"http://localhost:{demo_port}"]
        origins = env.items("CORS_ORIGINS", default_origins)
        for origin in origins:
            if urlparse(origin).scheme not in ("http", "https") or origin.endswith("/"):
                raise ConfigError(
                    f"CORS_ORIGINS entries must look like http://host:port, got {origin!r}"
                )
        host = "127.0.0.1"
        media_port = env.port("MEDIA_SERVICE_PORT", 50051)
        post_port = env.port("POST_SERVICE_PORT", 50052)
        return cls(
            host=host,
            bind_host=env.text("BIND_HOST", host),
            gateway_port=env.port("GATEWAY_PORT", 8080),
            admin_port=env.port("ENVOY_ADMIN_PORT", 9901),
            media_port=media_port,
            post_port=post_port,
            reflection_port=env.port("REFLECTION_PORT", 50053),
            s3_port=env.port("S3_PORT", 9000),
            demo_port=demo_port,
            media_metrics_port=env.port("MEDIA_SERVICE_METRICS_PORT", 9464),
            post_metrics_port=env.port("POST_SERVICE_METRICS_PORT", 9465),
            worker_metrics_port=env.port("WORKER_METRICS_PORT", 9466),
            data_dir=Path(env.text("DATA_DIR", str(ROOT / ".data"))).resolve(),
            cors_origins=origins,
            jwt_issuer=env.text("JWT_ISSUER", DEFAULT_ISSUER),
            jwt_audience=env.text("JWT_AUDIENCE", DEFAULT_AUDIENCE),
            jwks_url=env.optional("JWKS_URL"),
            database_url=env.optional("DATABASE_URL"),
            broker_url=env.optional("BROKER_URL"),
            s3_endpoint_url=env.optional("S3_ENDPOINT_URL"),
            s3_bucket=env.text("S3_BUCKET", "media"),
            media_upstreams=_endpoints(env, "MEDIA_SERVICE_UPSTREAMS", [f"{host}:{media_port}"]),
            post_upstreams=_endpoints(env, "POST_SERVICE_UPSTREAMS", [f"{host}:{post_port}"]),
            traces_endpoint=_traces_endpoint(env),
            descriptor_set=Path(
                env.text("DESCRIPTOR_SET_PATH", str(ROOT / "genproto" / "descriptor_set.pb"))
            ),
        )

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def admin_url(self) -> str:
        """Envoy's admin: /ready, /clusters, /stats."""
        return f"http://{self.host}:{self.admin_port}"

    @property
    def storage_url(self) -> str:
        return self.s3_endpoint_url or f"http://{self.host}:{self.s3_port}"

    @property
    def jwks_path(self) -> Path:
        return self.data_dir / "dev-jwks.json"

    @property
    def service_token_path(self) -> Path:
        return self.data_dir / "dev-service-token"

    @property
    def private_key_path(self) -> Path:
        return self.data_dir / "dev-jwt-key.pem"


def _endpoints(env: Env, name: str, default: list[str]) -> list[Endpoint]:
    """A comma-separated list of host:port."""
    endpoints = []
    for item in env.items(name, default):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name} entries must look like host:port, got {item!r}")
        endpoints.append((host, int(port)))
    return endpoints


def _traces_endpoint(env: Env) -> Endpoint | None:
    """Where Envoy sends its spans: the services' OTLP collector (the standard
    OTEL_* variables), when traces are exported over OTLP/gRPC."""
    if env.text("OTEL_TRACES_EXPORTER", "none") != "otlp":
        return None
    url = env.optional("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.text(
        "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"
    )
    parsed = urlparse(url)
    if not parsed.hostname:
        raise ConfigError(f"OTEL_EXPORTER_OTLP_ENDPOINT must be a URL, got {url!r}")
    return (parsed.hostname, parsed.port or 4317)


def inherited_environment() -> dict[str, str]:
    return dict(os.environ)
