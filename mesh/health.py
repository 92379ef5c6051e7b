"""Health that tells the truth: a service is SERVING only while every
dependency it needs answers (its database; storage; another service).

One thread per serving process checks them every INTERVAL_SECONDS, each check
bounded by CHECK_TIMEOUT_SECONDS; `grpc.health.v1` answers the last verdict,
so a health check (Envoy's, a Kubernetes probe) never waits on a dependency
and calls are never slowed by checks. Envoy routes around a process that says
NOT_SERVING; it says SERVING again once every dependency answers.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mesh.client import insecure_channel
from mesh.db import AnyDatabase, connection_for

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0
CHECK_TIMEOUT_SECONDS = 2.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass(frozen=True)
class Dependency:
    name: str  # for the log: "database", "storage", ...
    check: Callable[[], object]  # raises when the dependency cannot be used


def database(db: AnyDatabase) -> Dependency:
    def check() -> None:
        with connection_for(db, CHECK_TIMEOUT_SECONDS):
            db.execute_sql("SELECT 1")

    return Dependency("database", check)


def grpc_service(name: str, address: str, service: str) -> Dependency:
    """Another service of the mesh, as its own health check reports it."""
    stub = health_pb2_grpc.HealthStub(insecure_channel(address, service))

    def check() -> None:
        request = health_pb2.HealthCheckRequest(service=service)
        reply = stub.Check(request, timeout=CHECK_TIMEOUT_SECONDS)
        if reply.status != SERVING:
            raise RuntimeError(
                f"{name} says {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
            )

    return Dependency(name, check)


class HealthWatch:
    """Checks `needs` in the background; `report(serving)` hears each verdict."""

    def __init__(self, needs: Sequence[Dependency], report: Callable[[bool], None]) -> None:
        self._needs = list(needs)
        self._report = report
        self._down: list[str] = []

    def start(self, stop: threading.Event) -> None:
        if self._needs:
            threading.Thread(target=self._run, args=(stop,), name="health", daemon=True).start()

    def check_once(self) -> list[str]:
        """Check every dependency and report; the names of those down."""
        down = [need.name for need in self._needs if not _answers(need)]
        self._report(not down)
        if down != self._down:
            if down:
                log.warning("not serving: %s unavailable", ", ".join(down))
            else:
                log.info("serving again: every dependency answers")
            self._down = down
        return down

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.check_once()
            stop.wait(INTERVAL_SECONDS)


def grpc_health(servicer: health.HealthServicer, services: Sequence[str]) -> Callable[[bool], None]:
    """A report that sets `services` (and the server as a whole, "") SERVING or NOT_SERVING."""

    def report(serving: bool) -> None:
        for service in [*services, ""]:
            servicer.set(service, SERVING if serving else NOT_SERVING)

    return report


class Verdict:
    """The last report, for a probe to read (the worker's /readyz)."""

    def __init__(self) -> None:
        self.serving = False

    def __call__(self, serving: bool) -> None:
        self.serving = serving


def _answers(need: Dependency) -> bool:
    try:
        need.check()
    except Exception as error:  # any failure means "cannot be used now"
        log.debug("%s check failed: %r", need.name, error)
        return False
    return True
