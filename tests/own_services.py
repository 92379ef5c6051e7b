"""A service of a test's own (a media_service above all), beside the session's
mesh: its own port and process, the mesh's database, bucket and broker unless told otherwise (the
environment overrides), so what it writes is what the mesh sees."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway import processes
from gateway.localmesh import LocalMesh
from gateway.settings import ROOT
from tests.storage_tap import StorageTap
from tests.support import free_port, grpc_serving


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
