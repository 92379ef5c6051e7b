"""The real mesh, started once per test session.

Envoy, both services (two processes each), the dramatiq worker on the
machine's RabbitMQ, moto's S3 server, and a fresh PostgreSQL database, all on
free loopback ports. Tests talk to it the way clients do: HTTP through the
gateway, gRPC, and S3 for the bytes.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pika
import pytest

from gateway import devkeys
from gateway.localmesh import LocalMesh
from gateway.settings import Settings
from gateway.storage_setup import s3_client
from tests.support import Api, free_port, fresh_postgres_database

RABBITMQ_URL = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def mesh_environment(data_dir: Path, **overrides: str) -> dict[str, str]:
    """os.environ plus free ports and a data dir of the test's own."""
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


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    # the saga tests wait for the reconciler: let it act within seconds
    with production_mesh(
        tmp_path_factory.mktemp("mesh"), RECONCILE_AFTER_SECONDS="1", RECONCILE_INTERVAL_SECONDS="1"
    ) as running:
        yield running


def delete_queues(queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    channel = connection.channel()
    for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
        channel.queue_delete(queue=name)
    connection.close()


@pytest.fixture(scope="session")
def settings(mesh: LocalMesh) -> Settings:
    return mesh.settings


def token_for(settings: Settings, user: str) -> str:
    return devkeys.mint_token(settings, user)


@pytest.fixture
def user() -> str:
    """A user of the test's own, so tests never see each other's media."""
    return f"user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(settings: Settings, user: str) -> Api:
    return Api(settings.gateway_url, token_for(settings, user))


@pytest.fixture
def other_api(settings: Settings) -> Api:
    return Api(settings.gateway_url, token_for(settings, f"other-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def anonymous(settings: Settings) -> Api:
    return Api(settings.gateway_url, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind the services run on, one test at a time."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/test.db"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture(scope="session")
def s3(settings: Settings):  # type: ignore[no-untyped-def]
    return s3_client(settings)
