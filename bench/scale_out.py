"""Scale-out on one machine: what a second instance of each service buys, and
how fast Envoy stops sending calls to an instance that was killed.

1. CreateUploadSession through Envoy (wrk, 32 connections), the mesh with one
   instance of each service against the mesh with two, each instance on
   SERVER_PROCESSES processes; alternated A B A B, medians and their ratio.
   Both share the same two cores, so a second instance can only add what one
   instance leaves idle: the ratio is bounded by the cores, not by the design.
2. SIGKILL of one media_service instance (of two): the time until Envoy's
   /clusters no longer counts it healthy, under load (calls to it fail to
   connect: outlier detection) and idle (only the health checks notice).
"""

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bench.mesh import BenchMesh, running_mesh
from bench.sessions import session_calls
from bench.table import print_table, rate_row
from bench.wrk import Result, load
from gateway import devkeys, processes
from gateway.localmesh import LocalMesh

USERS = 10_000
ROUNDS = 3
SECONDS = 8
WARM_UP_SECONDS = 10
KILLS = 3


def main() -> None:
    shapes = {f"{n} instance{'s' if n > 1 else ''} x {p} process{'es' if p > 1 else ''}": (n, p)
              for n, p in ((1, 1), (2, 1), (1, 2), (2, 2))}  # fmt: skip
    # One mesh at a time: idle meshes would hold pooled database connections
    # that the measured one needs (PostgreSQL allows 100).
    results: dict[str, list[Result]] = {}
    kills: list[dict[str, str]] = []
    for name, shape in shapes.items():
        with _mesh(*shape) as bench:
            tokens = [devkeys.mint_token(bench.settings, f"bench-{i}") for i in range(USERS)]
            results[name] = [_sessions(bench, tokens) for _ in range(ROUNDS)]
            if shape == (2, 1):
                kills = [_kill_row(bench.mesh, under_load=True), _kill_row(bench.mesh, False)]
    one = statistics.median(r.requests_per_second for r in results["1 instance x 2 processes"])
    print_table(
        f"CreateUploadSession via Envoy by mesh shape (wrk, 32 connections, {ROUNDS} x "
        f"{SECONDS} s each after {WARM_UP_SECONDS} s of warm-up; 2 cores for everything; medians)",
        [rate_row(("mesh", name), rs, one, "1 x 2") for name, rs in results.items()],
    )
    print_table(
        f"SIGKILL of one media_service instance of two: until Envoy routes around it "
        f"({KILLS} kills each)",
        kills,
    )


@contextmanager
def _mesh(instances: int, processes_each: int) -> Iterator[BenchMesh]:
    def upstreams() -> str:
        return ",".join(f"127.0.0.1:{processes.free_port()}" for _ in range(instances))

    with running_mesh(
        MEDIA_SERVICE_UPSTREAMS=upstreams(),
        POST_SERVICE_UPSTREAMS=upstreams(),
        SERVER_PROCESSES=str(processes_each),
    ) as bench:
        bench.mesh.stop_component("worker")  # no processing CPU: the control plane only
        yield bench


def _sessions(bench: BenchMesh, tokens: list[str]) -> Result:
    """Warmed up (pools full, tokens seen), then measured. A user makes about
    3 sessions a round, under the cap of 20 pending over the 3 rounds."""
    calls = session_calls(tokens)
    load(bench.settings.gateway_url, calls, WARM_UP_SECONDS)
    return load(bench.settings.gateway_url, calls, SECONDS)


def _kill_row(mesh: LocalMesh, under_load: bool) -> dict[str, str]:
    token = devkeys.mint_token(mesh.settings, "bench-kill")
    seconds = []
    for _ in range(KILLS):
        with _light_load(mesh.settings.gateway_url, token, under_load):
            time.sleep(1)
            mesh.kill_component("media_service-1")
            killed = time.perf_counter()
            while mesh.routed_endpoints()["media_service"] != 1:
                time.sleep(0.005)
            seconds.append(time.perf_counter() - killed)
        mesh.start_instance("media_service-1")
        while mesh.routed_endpoints()["media_service"] != 2:
            time.sleep(0.05)
    return {
        "while": "calls arrive (20 at a time)" if under_load else "idle (health checks only)",
        "median s": f"{statistics.median(seconds):.3f}",
        "max s": f"{max(seconds):.3f}",
    }


@contextmanager
def _light_load(gateway: str, token: str, on: bool) -> Iterator[None]:
    """ListMedia calls from 20 threads until the block ends (nothing when not `on`)."""
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=gateway, headers={"authorization": f"Bearer {token}"}) as http:
            while not stop.is_set():
                http.get("/api/v1/media")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(20 if on else 0)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


if __name__ == "__main__":
    main()
