"""Prometheus metrics: every process's values, and the exporter that serves them.

Servers fork (mesh.server.serve), so values live in prometheus_client's
multiprocess mode: each process writes its own file in one directory and the
exporter, in the supervising process, adds them up when Prometheus scrapes
`/metrics`. `prepare` switches the mode on before any value exists (every
metric of the mesh has labels, so its values are made on first use, after
it) and empties the directory of a previous run.

Names follow Prometheus conventions: `_total` for counters, `_seconds` and
`_bytes` in base units. The RPC metrics use go-grpc-prometheus's names, which
common gRPC dashboards read.
"""

import atexit
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

from mesh.config import MetricsConfig

log = logging.getLogger(__name__)

# From a cached read (a millisecond) to a long stream or a slow outage (30 s).
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

RPCS_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by gRPC status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's start to its end (a stream's end, for streams).",
    ["grpc_service", "grpc_method"],
    buckets=RPC_BUCKETS,
)


_directory = ""  # where this process's values live, once `prepare` chose it


def record_call(method: str, code: str, seconds: float) -> None:
    """One RPC ended; `method` is gRPC's `/package.Service/Method`."""
    service, _, name = method.lstrip("/").partition("/")
    RPCS_HANDLED.labels(service, name, code).inc()
    RPC_SECONDS.labels(service, name).observe(seconds)


def prepare(directory: str | None) -> str:
    """Multiprocess mode on, in `directory` (emptied) or a new temporary one
    (removed when this process exits). Call before forking and before any value."""
    path = directory or tempfile.mkdtemp(prefix="metrics-")
    if directory is None:
        atexit.register(_remove_if_mine, path, os.getpid())
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink()
    # prometheus_client reads the directory from here whenever it opens a file.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.MultiProcessValue()
    global _directory
    _directory = path
    return path


def _remove_if_mine(path: str, creator: int) -> None:
    # Forked servers inherit atexit handlers: only the creator removes it.
    if os.getpid() == creator:
        shutil.rmtree(path, ignore_errors=True)


Probe = Callable[[], bool]


class Exporter:
    """HTTP on the metrics port: `/metrics` (every process's values, plus
    `collectors` read at scrape time) and, for processes without a gRPC health
    service (the worker), probes such as `/livez` and `/readyz`."""

    def __init__(
        self,
        config: MetricsConfig,
        collectors: Iterable[Collector] = (),
        probes: Mapping[str, Probe] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        if _directory:
            multiprocess.MultiProcessCollector(self.registry, path=_directory)
        else:  # one process, without `prepare` (a test): its own values
            self.registry.register(REGISTRY)
        for collector in collectors:
            self.registry.register(collector)
        self.probes: dict[str, Probe] = dict(probes or {})
        try:
            self._server = ThreadingHTTPServer(
                (config.host, config.port), _handler(self.registry, self.probes)
            )
        except OSError as error:
            raise SystemExit(
                f"metrics port {config.host}:{config.port} is not free ({error.strerror})"
            ) from None
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> "Exporter":
        thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        thread.start()
        log.info("metrics exporter listening", extra={"fields": {"port": self.port}})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(registry: CollectorRegistry, probes: dict[str, Probe]) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in probes:
                ok = _passes(probes[path])
                self._reply(200 if ok else 503, b"ok\n" if ok else b"not ok\n", "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the log

    return Handler


def _passes(probe: Probe) -> bool:
    try:
        return probe()
    except Exception:
        log.exception("probe failed")
        return False
