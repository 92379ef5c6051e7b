"""The real mesh, started once per test session.

Envoy, both services (two processes each), the dramatiq worker on the
machine's RabbitMQ, moto's S3 server, and a fresh PostgreSQL database, all on
free loopback ports. Tests talk to it the way clients do: HTTP through the
gateway, gRPC, and S3 for the bytes.

Fixtures only: the helpers are in harness/ (shared with the benchmarks) and
tests/support.py.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.devkeys import mint_token
from gateway.localmesh import LocalMesh
from gateway.settings import Settings
from gateway.storage_setup import s3_client
from harness.environment import production_mesh
from harness.postgres import fresh_postgres_database
from harness.rest import Api


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    # the saga tests wait for the reconciler: let it act within seconds
    with production_mesh(
        tmp_path_factory.mktemp("mesh"), RECONCILE_AFTER_SECONDS="1", RECONCILE_INTERVAL_SECONDS="1"
    ) as running:
        yield running


@pytest.fixture(scope="session")
def settings(mesh: LocalMesh) -> Settings:
    return mesh.settings


@pytest.fixture
def user() -> str:
    """A user of the test's own, so tests never see each other's media."""
    return f"user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(settings: Settings, user: str) -> Api:
    return Api(settings.gateway_url, mint_token(settings, user))


@pytest.fixture
def other_api(settings: Settings) -> Api:
    return Api(settings.gateway_url, mint_token(settings, f"other-{uuid.uuid4().hex[:8]}"))


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
def s3(settings: Settings):
    return s3_client(settings)
