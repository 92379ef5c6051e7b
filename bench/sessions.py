"""Upload sessions per second through the gateway (REST) and straight at
media_service (native gRPC), on the real mesh with PostgreSQL and the S3 server.

Clients run on the same two cores as Envoy, the services and PostgreSQL, so
the numbers are a floor for what the mesh does with a core to itself.
"""

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx

from bench.table import print_table
from gateway import devkeys
from gateway.localmesh import LocalMesh
from gateway.settings import Settings
from genproto.media.v1 import media_pb2, media_pb2_grpc
from tests.conftest import mesh_environment
from tests.support import fresh_postgres_database

REQUESTS = 3000
CONCURRENCY = 32
USERS = 64
BODY = {
    "fileName": "a.jpg",
    "fileType": "image/jpeg",
    "fileSize": 100_000,
    "mediaType": "post-image",
}


def _rest_caller(settings: Settings, tokens: list[str]) -> Callable[[int], None]:
    local = threading.local()

    def call(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=settings.gateway_url, timeout=30)
        headers = {"authorization": f"Bearer {tokens[i % len(tokens)]}"}
        reply = local.client.post("/api/v1/media/upload-session", json=BODY, headers=headers)
        assert reply.status_code == 200, reply.text

    return call


def _grpc_caller(address: str, tokens: list[str]) -> Callable[[int], None]:
    stub = media_pb2_grpc.MediaServiceStub(grpc.insecure_channel(address))
    request = media_pb2.CreateUploadSessionRequest(
        file_name="a.jpg", file_type="image/jpeg", file_size=100_000, media_type="post-image"
    )

    def call(i: int) -> None:
        stub.CreateUploadSession(
            request, metadata=[("authorization", f"Bearer {tokens[i % len(tokens)]}")], timeout=30
        )

    return call


def _measure(name: str, call: Callable[[int], None]) -> dict[str, str]:
    for i in range(100):  # warm connections and pools
        call(i)
    latencies: list[float] = []

    def timed(i: int) -> None:
        started = time.perf_counter()
        call(i)
        latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(timed, range(REQUESTS)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "path": name,
        "requests": str(REQUESTS),
        "concurrency": str(CONCURRENCY),
        "sessions/s": f"{REQUESTS / elapsed:.0f}",
        "p50 ms": f"{statistics.median(latencies):.1f}",
        "p99 ms": f"{latencies[int(len(latencies) * 0.99)]:.1f}",
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, fresh_postgres_database() as database_url:
        env = mesh_environment(
            Path(scratch), DATABASE_URL=database_url, MAX_PENDING_UPLOADS="1000000"
        )
        settings = Settings.from_env(env)
        with LocalMesh(settings, env, log_dir=Path(scratch) / "logs"):
            tokens = [devkeys.mint_token(settings, f"bench-{i}") for i in range(USERS)]
            rows = [
                _measure("REST via Envoy", _rest_caller(settings, tokens)),
                _measure(
                    "gRPC via Envoy", _grpc_caller(f"127.0.0.1:{settings.gateway_port}", tokens)
                ),
                _measure("gRPC direct", _grpc_caller(f"127.0.0.1:{settings.media_port}", tokens)),
            ]
    print_table("CreateUploadSession throughput (mesh, PostgreSQL and clients on 2 cores)", rows)


if __name__ == "__main__":
    main()
