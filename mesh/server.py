"""Building and running a gRPC service: the same for every service of the mesh.

`create_server` returns a started-ready server and its port (tests bind port
0); `serve` runs a service in the foreground on several processes sharing one
port (SO_REUSEPORT) so that both cores serve calls, and drains in-flight calls
on SIGTERM or Ctrl-C.
"""

import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh import tracing
from mesh.api import internal_methods
from mesh.config import MetricsConfig, ServerConfig
from mesh.health import Dependency, HealthWatch, grpc_health
from mesh.metrics import Exporter
from mesh.metrics import prepare as prepare_metrics
from mesh.middleware import Middleware, chain_interceptor

log = logging.getLogger("mesh.server")

MAX_METADATA_BYTES = 128 * 1024
LIVENESS = "liveness"


@dataclass(frozen=True)
class Service:
    """A servicer, what registers it (`add_XServicer_to_server`), its full name,
    and the paths of its methods only other services of the mesh may call."""

    name: str
    servicer: Any
    register: Callable[[Any, grpc.Server], None]
    internal: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        descriptor: ServiceDescriptor,
        servicer: Any,
        register: Callable[[Any, grpc.Server], None],
    ) -> "Service":
        """A service of our protos: which methods are internal is read from its
        descriptor (mesh.api), so a new internal RPC is guarded at its port too."""
        return cls(descriptor.full_name, servicer, register, tuple(internal_methods(descriptor)))


@dataclass
class Running:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    # Called when draining starts, before in-flight calls are waited for: what
    # would hold a call open until the grace period ends (a stream) lets go.
    on_drain: list[Callable[[], None]] = field(default_factory=list)
    # What the service needs to serve: while one does not answer, its health
    # says NOT_SERVING (mesh.health).
    needs: list[Dependency] = field(default_factory=list)
    services: list[str] = field(default_factory=list)


def create_server(
    services: Sequence[Service],
    middlewares: Sequence[Middleware],
    address: str,
    threads: int = 16,
    reuse_port: bool = False,
) -> Running:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rpc"),
        # Tracing's span (when on) around the whole chain, its log line included.
        interceptors=[*tracing.server_interceptors(), chain_interceptor(middlewares)],
        options=[
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            # Above anything the gateway lets through (its header limit plus what it
            # adds), so grpc's own refusal, which lists every header's size, never
            # answers a request that came through the gateway.
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
        ],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in services:
        service.register(service.servicer, server)
        health_servicer.set(service.name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    # For liveness probes: SERVING while the process serves at all, whatever
    # its dependencies say (restarting it would not bring a database back).
    health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    names = [s.name for s in services] + [
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    ]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return Running(
        server=server, port=port, health=health_servicer, services=[s.name for s in services]
    )


Background = Callable[[threading.Event], None]


def serve(
    build: Callable[[], Running],
    config: ServerConfig,
    background: Background | None = None,
    metrics: MetricsConfig | None = None,
    name: str = "mesh",
) -> None:
    """Run `build()`'s server in `config.processes` processes until SIGTERM/SIGINT.

    `background(stop)`, if given, runs once per service (not once per server
    process): in the supervising process, in a thread, until `stop` is set.
    The supervising process also exports every process's `metrics`.
    Each server process traces as `name` (mesh.tracing).
    """
    _check_port_free(config.host, config.port)
    if metrics is not None:
        _check_port_free(metrics.host, metrics.port)
        prepare_metrics(metrics.directory)
    if config.processes == 1:
        exporter = Exporter(metrics).start() if metrics else None
        _serve_one(build, config.grace_seconds, background, name)
        if exporter is not None:
            exporter.stop()
        return
    # Fork before any grpc object exists in this process (grpc is not fork-safe).
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(
            target=_serve_one, args=(build, config.grace_seconds, None, name), name=f"server-{i}"
        )
        for i in range(config.processes)
    ]
    for child in children:
        child.start()
    stop = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stop.set()
        for child in children:
            if child.pid and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    exporter = Exporter(metrics).start() if metrics else None
    worker = _start_background(background, stop)
    for child in children:
        child.join()
    if exporter is not None:
        exporter.stop()
    stop.set()
    if worker is not None:
        worker.join(timeout=config.grace_seconds)


def _serve_one(
    build: Callable[[], Running],
    grace_seconds: float,
    background: Background | None = None,
    name: str = "mesh",
) -> None:
    tracing.start(name)  # after the fork: the exporter's thread would not survive it
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    running = build()
    running.server.start()
    HealthWatch(running.needs, grpc_health(running.health, running.services)).start(stop)
    log.info("serving", extra={"fields": {"port": running.port, "pid": os.getpid()}})
    worker = _start_background(background, stop)
    stop.wait()
    # Tell health checkers first, then let in-flight calls finish.
    running.health.enter_graceful_shutdown()
    for drain in running.on_drain:
        drain()
    running.server.stop(grace_seconds).wait()
    if worker is not None:
        worker.join(timeout=grace_seconds)
    log.info("stopped", extra={"fields": {"pid": os.getpid()}})
    tracing.shutdown()


def _start_background(
    background: Background | None, stop: threading.Event
) -> threading.Thread | None:
    if background is None:
        return None
    thread = threading.Thread(target=background, args=(stop,), name="background", daemon=True)
    thread.start()
    return thread


def _check_port_free(host: str, port: int) -> None:
    """SO_REUSEPORT would let us silently share a port with a stale server: refuse instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: connections in TIME_WAIT are fine, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SystemExit(f"port {host}:{port} is already in use ({error.strerror})") from None
