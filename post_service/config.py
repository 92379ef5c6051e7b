"""post_service settings: read once from the environment, here and nowhere else."""

from collections.abc import Mapping
from dataclasses import dataclass

from mesh.config import AuthConfig, Env, MetricsConfig, ServerConfig, database_url

DEFAULT_PORT = 50052
DEFAULT_MEDIA_SERVICE_PORT = 50051


@dataclass(frozen=True)
class PostConfig:
    server: ServerConfig
    metrics: MetricsConfig
    auth: AuthConfig
    database_url: str
    media_service_address: str
    media_call_timeout_seconds: float
    reconcile_after_seconds: int  # a PENDING post older than this is settled
    reconcile_interval_seconds: int
    saga_fault: str  # testing only: "crash-after-recorded" or "crash-after-attached"
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "PostConfig":
        env = Env(environ)
        media_port = env.port("MEDIA_SERVICE_PORT", DEFAULT_MEDIA_SERVICE_PORT)
        return cls(
            server=ServerConfig.from_env(env, "POST_SERVICE_PORT", DEFAULT_PORT),
            metrics=MetricsConfig.from_env(env, "POST_SERVICE_METRICS_PORT", 9465),
            auth=AuthConfig.from_env(env),
            database_url=database_url(env, "post.db"),
            media_service_address=env.text("MEDIA_SERVICE_ADDR", f"127.0.0.1:{media_port}"),
            media_call_timeout_seconds=float(
                env.integer("MEDIA_CALL_TIMEOUT_SECONDS", 5, minimum=1)
            ),
            reconcile_after_seconds=env.integer("RECONCILE_AFTER_SECONDS", 60, minimum=1),
            reconcile_interval_seconds=env.integer("RECONCILE_INTERVAL_SECONDS", 30, minimum=1),
            saga_fault=env.choice("SAGA_FAULT", SAGA_FAULTS),
            log_level=env.text("LOG_LEVEL", "INFO"),
        )


SAGA_FAULTS = ("crash-after-recorded", "crash-after-attached")
