"""The environment a local mesh of one's own runs in: free loopback ports, a
data dir of its own and, as in production, a fresh PostgreSQL database and a
RabbitMQ queue of its own."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.localmesh import LocalMesh
from gateway.processes import free_port
from gateway.settings import Settings
from harness.broker import RABBITMQ_URL, delete_queues
from harness.postgres import fresh_postgres_database


def mesh_environment(data_dir: Path, **overrides: str) -> dict[str, str]:
    """os.environ plus free ports, and `data_dir` as the data dir."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "BROKER_URL", "S3_ENDPOINT_URL", "CDN_BASE_URL", "JWKS_URL")
        and not key.startswith("OTEL_")  # traces only where a test turns them on
    }
    env.update(
        GATEWAY_PORT=str(free_port()),
        ENVOY_ADMIN_PORT=str(free_port()),
        MEDIA_SERVICE_PORT=str(free_port()),
        POST_SERVICE_PORT=str(free_port()),
        REFLECTION_PORT=str(free_port()),
        S3_PORT=str(free_port()),
        DEMO_PORT=str(free_port()),
        MEDIA_SERVICE_METRICS_PORT=str(free_port()),
        POST_SERVICE_METRICS_PORT=str(free_port()),
        WORKER_METRICS_PORT=str(free_port()),
        DATA_DIR=str(data_dir),
        SERVER_PROCESSES="2",
    )
    env.update(overrides)
    return env


@contextmanager
def production_mesh(data_dir: Path, **overrides: str) -> Iterator[LocalMesh]:
    """The mesh as in production, on a fresh PostgreSQL database and a
    RabbitMQ queue of its own (deleted after), with `overrides` of its environment."""
    queue = f"media-processing-test-{uuid.uuid4().hex[:8]}"
    with fresh_postgres_database() as database_url:
        env = mesh_environment(
            data_dir,
            DATABASE_URL=database_url,
            BROKER_URL=RABBITMQ_URL,
            PROCESSING_QUEUE=queue,
            **overrides,
        )
        try:
            with LocalMesh(Settings.from_env(env), env, log_dir=data_dir / "logs") as running:
                yield running
        finally:
            delete_queues(queue)
