"""What every service's `__main__` does: load config, migrate, serve.

    python -m <service>  →  run_service(...)  →  serve(build(config)) on every core

A service supplies its config loader, its database proxy, its migrations and
a `build(config)` that creates one serving process's server (with
`service_server`).
"""

import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from peewee import DatabaseProxy, InterfaceError, OperationalError

from mesh import middleware, tracing
from mesh.auth import ServiceCredential, TokenVerifier
from mesh.config import AuthConfig, ConfigError, MetricsConfig, ServerConfig
from mesh.db import AnyDatabase, close_all, open_database
from mesh.logs import configure_logging
from mesh.migrations import migrate
from mesh.server import Background, Running, Service, create_server, serve


class ServiceConfig(Protocol):
    @property
    def server(self) -> ServerConfig: ...

    @property
    def database_url(self) -> str: ...

    @property
    def log_level(self) -> str: ...

    @property
    def metrics(self) -> MetricsConfig: ...

    @property
    def auth(self) -> AuthConfig: ...


C = TypeVar("C", bound=ServiceConfig)

log = logging.getLogger("mesh.service")
# Backoff while the database cannot be reached at start.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def configured(name: str, load_config: Callable[[], C]) -> C:
    """The process's config, with logging set up; or exit with one line naming
    the bad setting. Every entry point of a service starts here."""
    try:
        config = load_config()
        tracing.check_settings()
    except ConfigError as error:
        sys.exit(f"{name}: {error}")
    configure_logging(name, config.log_level)
    return config


def service_server(
    config: ServiceConfig,
    database: AnyDatabase,
    services: Sequence[Service],
    threads: int | None = None,
) -> Running:
    """One serving process's server of `services` on `config.server`'s
    address, behind the standard middleware; `threads` defaults to the
    config's."""
    internal = [path for service in services for path in service.internal]
    return create_server(
        services,
        standard_middleware(config.auth, database, internal),
        config.server.address,
        threads=threads or config.server.threads,
        reuse_port=config.server.processes > 1,
    )


def standard_middleware(
    auth: AuthConfig, database: AnyDatabase, internal: Sequence[str] = ()
) -> list[middleware.Middleware]:
    """The order every service uses: log, map errors, authenticate, check the
    request, then a connection.
    `internal` lists the methods only other services of the mesh may call."""
    return [
        middleware.log_requests,
        middleware.map_errors,
        middleware.authenticate(TokenVerifier(auth), ServiceCredential(auth), internal),
        middleware.well_formed,
        middleware.connection_per_call(database),
    ]


def _migrate_when_reachable(database: DatabaseProxy, package: str, table: str) -> None:
    """Migrate; while the database cannot be reached, say so in one line and
    try again with backoff (it may simply be starting too)."""
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            migrate(database, package, table)
            return
        except (OperationalError, InterfaceError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            log.warning(f"cannot reach the database ({reason}); retrying in {delay:g} s")
            close_all(database)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)


def run_service(
    name: str,
    load_config: Callable[[], C],
    database: DatabaseProxy,
    migrations: tuple[str, str],
    build: Callable[[C], Running],
    background: Callable[[C], Background] | None = None,
) -> None:
    """Exit with one line on a bad setting; else migrate, then serve until SIGTERM.
    `background(config)` gives a task run once per service (see `serve`).

    `python -m <service> migrate` only migrates, then exits (a deploy's
    migration job); serving migrates too, a no-op once the job has run."""
    command = sys.argv[1:]
    if command not in ([], ["migrate"]):
        sys.exit(f"usage: python -m {name} [migrate]")
    config = configured(name, load_config)
    database.initialize(open_database(config.database_url, max_connections=1))
    _migrate_when_reachable(database, *migrations)
    close_all(database)  # no connection may cross the fork into the servers
    if command == ["migrate"]:
        log.info("migrated")
        return
    serve(
        lambda: build(config),
        config.server,
        background(config) if background else None,
        config.metrics,
        name=name,
    )
