"""A service of a test's own (a media_service above all), beside the session's
mesh: its own port and process, the mesh's database, bucket and broker unless told otherwise (the
environment overrides), so what it writes is what the mesh sees."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import grpc

from gateway import processes
from gateway.localmesh import LocalMesh
from gateway.processes import free_port
from gateway.settings import ROOT
from genproto.media.v1 import media_pb2_grpc
from tests.storage_tap import StorageTap
from tests.support import database_url_through, grpc_serving
from tests.tcp_proxy import TcpProxy


@contextmanager
def own_media_service(
    mesh: LocalMesh, log_dir: Path, wait: bool = True, **env: str
) -> Iterator[tuple[str, processes.Child]]:
    """(its address, its process); one server process, started with `env` over the mesh's."""
    with own_service(mesh, "media_service", "MEDIA_SERVICE_PORT", log_dir, wait, **env) as own:
        yield own


@contextmanager
def own_service(
    mesh: LocalMesh, module: str, port_variable: str, log_dir: Path, wait: bool = True, **env: str
) -> Iterator[tuple[str, processes.Child]]:
    """`python -m module` of a test's own: (its address, its process); `wait`
    for it to say SERVING."""
    port = free_port()
    child = processes.start(
        f"own-{module.replace('_', '-')}",
        [sys.executable, "-m", module],
        {**mesh.service_env(), port_variable: str(port), "SERVER_PROCESSES": "1", **env},
        ROOT,
        log_dir,
    )
    address = f"127.0.0.1:{port}"
    try:
        if wait:
            processes.wait_until(lambda: grpc_serving(address), module, 60, child)
        yield address, child
    finally:
        processes.stop(child)


@contextmanager
def tapped_media_service(mesh: LocalMesh, log_dir: Path) -> Iterator[tuple[str, StorageTap]]:
    """(the address of a media_service of its own whose URLs point at a storage
    tap in front of the mesh's S3 server, the tap)."""
    tap = StorageTap(mesh.settings.s3_port)
    try:
        with own_media_service(mesh, log_dir, S3_ENDPOINT_URL=tap.endpoint) as (address, _):
            yield address, tap
    finally:
        tap.close()


@dataclass
class Isolated:
    address: str
    stub: media_pb2_grpc.MediaServiceStub
    database: TcpProxy
    storage: TcpProxy
    child: processes.Child


@contextmanager
def isolated_media_service(mesh, log_dir: Path, wait: bool = True) -> Iterator[Isolated]:
    """A media_service of its own reaching the mesh's database and storage
    through TCP proxies the test can make hang or refuse."""
    settings = mesh.settings
    database = TcpProxy(urlparse(settings.database_url).port or 5432)
    storage = TcpProxy(settings.s3_port)
    try:
        with own_media_service(
            mesh,
            log_dir,
            wait,
            DATABASE_URL=database_url_through(settings.database_url, database.port),
            S3_ENDPOINT_URL=f"http://127.0.0.1:{storage.port}",
        ) as (address, child):
            stub = media_pb2_grpc.MediaServiceStub(grpc.insecure_channel(address))
            yield Isolated(address, stub, database, storage, child)
    finally:
        database.close()
        storage.close()
