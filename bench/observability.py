"""What metrics and traces cost per call.

1. Metrics are always on: one RPC records a counter and a histogram
   (mesh.metrics.record_call), in multiprocess mode (a write to a memory-mapped
   file). Timed alone, in a process of its own, against the same two writes
   in single-process mode; set beside the call it rides on.
2. Traces: the same mesh with OTEL_TRACES_EXPORTER unset and set to `otlp`
   (a collector of the benchmark's own that accepts and drops every span):
   CreateUploadSession over native gRPC straight at media_service, one call at
   a time (the added latency), and through Envoy with wrk (the lost
   throughput; Envoy then traces too). Meshes alternated off, on, off, on;
   medians.
"""

import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from bench.mesh import BenchMesh, running_mesh
from bench.sessions import SESSION_REQUEST, session_calls
from bench.table import print_table
from bench.wrk import load
from gateway import devkeys, processes
from genproto.media.v1 import media_pb2_grpc

MESHES = 2
ROUNDS = 2
CALLS = 500
# Each user's token is seen in the warm-up and then remembered as verified
# (as for users who keep working); enough users that none reaches the cap of
# 20 pending sessions over the warm-up, 4 x 500 calls one at a time and wrk's.
USERS = 5_000
SECONDS = 6
WARM_UP_SECONDS = 15

RECORD_CALL = textwrap.dedent(
    """
    import sys, tempfile, time
    from mesh import metrics
    if sys.argv[1] == "multiprocess":
        metrics.prepare(tempfile.mkdtemp())
    for _ in range(1000):  # the label sets exist, as in a running server
        metrics.record_call("/media.v1.MediaService/GetMedia", "OK", 0.001)
    started = time.perf_counter()
    for _ in range(100_000):
        metrics.record_call("/media.v1.MediaService/GetMedia", "OK", 0.001)
    print((time.perf_counter() - started) / 100_000 * 1e6)
    """
)


def main() -> None:
    recorded = {mode: _record_call_us(mode) for mode in ("multiprocess", "single process")}
    # Meshes alternated off, on, off, on: a mesh's first minutes differ from
    # its next (caches, the database's), as much as tracing does.
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(MESHES):
        for traced in (False, True):
            runs[traced].append(_traced(traced))
    off, on = (
        {key: statistics.median(run[key] for run in runs[traced]) for key in ("p50_ms", "rate")}
        for traced in (False, True)
    )
    print_table(
        "Metrics: recording one RPC (a counter and a histogram), 100,000 times",
        [{"mode": mode, "µs per call": f"{us:.1f}"} for mode, us in recorded.items()],
    )
    print_table(
        f"Traces off and on (OTLP to a collector that drops them; {MESHES} meshes each, "
        f"alternated, {ROUNDS} rounds in each; medians)",
        [
            {
                "measure": f"native gRPC CreateUploadSession, one at a time, p50 of {CALLS}",
                "off": f"{off['p50_ms']:.2f} ms",
                "on": f"{on['p50_ms']:.2f} ms",
                "on / off": f"{on['p50_ms'] / off['p50_ms']:.2f}x",
            },
            {
                "measure": "REST via Envoy, wrk 32 connections, requests/s",
                "off": f"{off['rate']:.0f}",
                "on": f"{on['rate']:.0f}",
                "on / off": f"{on['rate'] / off['rate']:.2f}x",
            },
        ],
    )
    p50 = off["p50_ms"] * 1000
    share = recorded["multiprocess"] / p50
    print(f"  metrics: {recorded['multiprocess']:.1f} µs of a {p50:.0f} µs call ({share:.1%})")


def _record_call_us(mode: str) -> float:
    output = subprocess.run(
        [sys.executable, "-c", RECORD_CALL, mode], capture_output=True, text=True, check=True
    ).stdout
    return float(output.strip())


def _traced(on: bool) -> dict[str, float]:
    with _collector() as endpoint:
        overrides = (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint} if on else {}
        )
        with running_mesh(**overrides) as bench:
            bench.mesh.stop_component("worker")
            tokens = [devkeys.mint_token(bench.settings, f"bench-{i}") for i in range(USERS)]
            calls = session_calls(tokens)
            load(bench.settings.gateway_url, calls, WARM_UP_SECONDS)  # every token seen
            _one_at_a_time(bench, tokens)  # warm-up
            p50s = [_one_at_a_time(bench, tokens) for _ in range(ROUNDS)]
            rates = [
                load(bench.settings.gateway_url, calls, SECONDS).requests_per_second
                for _ in range(ROUNDS)
            ]
    return {"p50_ms": statistics.median(p50s), "rate": statistics.median(rates)}


def _one_at_a_time(bench: BenchMesh, tokens: list[str]) -> float:
    """The median latency of CALLS sessions, one at a time, each for the next user."""
    address = f"127.0.0.1:{bench.settings.media_port}"
    with grpc.insecure_channel(address) as channel:
        stub = media_pb2_grpc.MediaServiceStub(channel)
        samples = []
        for i in range(CALLS):
            metadata = (("authorization", f"Bearer {tokens[i % len(tokens)]}"),)
            started = time.perf_counter()
            stub.CreateUploadSession(SESSION_REQUEST, metadata=metadata, timeout=30)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


class _Drop(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return trace_service_pb2.ExportTraceServiceResponse()


@contextmanager
def _collector() -> Iterator[str]:
    """An OTLP/gRPC collector that accepts every span and keeps none."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Drop(), server)
    port = processes.free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop(0)


if __name__ == "__main__":
    main()
