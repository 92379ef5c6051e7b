"""The mesh a benchmark measures, as in production: PostgreSQL (a fresh
database), RabbitMQ (a queue of its own, deleted after), both services on two
processes each, the worker as a process of its own, Envoy in front."""

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.localmesh import LocalMesh
from gateway.settings import Settings
from harness.broker import RABBITMQ_URL, delete_queues
from harness.environment import mesh_environment
from harness.postgres import fresh_postgres_database


@dataclass(frozen=True)
class BenchMesh:
    mesh: LocalMesh
    settings: Settings
    database_url: str
    directory: Path  # scratch space, removed after


@contextmanager
def running_mesh(**overrides: str) -> Iterator[BenchMesh]:
    """The mesh, with `overrides` of its environment (instances, processes, ...)."""
    with tempfile.TemporaryDirectory() as scratch, fresh_postgres_database() as database_url:
        directory = Path(scratch)
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        env = mesh_environment(
            directory,
            DATABASE_URL=database_url,
            BROKER_URL=RABBITMQ_URL,
            PROCESSING_QUEUE=queue,
            **overrides,
        )
        settings = Settings.from_env(env)
        try:
            with LocalMesh(settings, env, log_dir=directory / "logs") as mesh:
                yield BenchMesh(mesh, settings, database_url, directory)
        finally:
            delete_queues(queue)
