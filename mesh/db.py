"""Opening the database a service's models are bound to.

Each service declares its own `DatabaseProxy` in its models module and
initialises it at start with `open_database(url)`: PostgreSQL through a small
connection pool, or an SQLite file for the embedded mode. Connections are
scoped to one call or one job (`connection_context()`), which is what grpc's
thread pool and dramatiq's worker threads need.
"""

import os
import select
import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import psycopg2
from peewee import Database, DatabaseProxy, SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase
from psycopg2 import extensions

from mesh.config import ConfigError

# A service's models bind to a DatabaseProxy; helpers take it or the real database.
AnyDatabase = Database | DatabaseProxy

# The longest PostgreSQL may take over one statement (the server cancels it);
# the client waits a little longer for any answer, connecting included, then
# gives the connection up: a server that holds connections open and never
# answers fails the call as UNAVAILABLE instead of holding its thread.
STATEMENT_TIMEOUT_SECONDS = 5.0
ANSWER_TIMEOUT_SECONDS = STATEMENT_TIMEOUT_SECONDS + 1.0
# All of one RPC's waits on the database together: under the gateway's 10 s
# timeout for reads, so the caller hears 503 from us rather than 504.
CALL_TIMEOUT_SECONDS = 8.0
# TCP keepalives find a peer that vanished while a pooled connection sat idle.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}

# When the current call must be over (time.monotonic()), if its caller set a deadline.
_call_deadline: ContextVar[float | None] = ContextVar("call_deadline", default=None)


def utcnow() -> datetime:
    """Now in UTC, naive: how every table of the mesh stores time."""
    return datetime.now(UTC).replace(tzinfo=None)


def open_database(url: str, max_connections: int = 20) -> Database:
    parsed = urlparse(url)
    if parsed.scheme in ("postgresql", "postgres"):
        return _postgres(url, max_connections)
    if parsed.scheme == "sqlite":
        return _sqlite(parsed.path)
    raise ConfigError(f"DATABASE_URL must be postgresql:// or sqlite:///, got {url!r}")


def _postgres(url: str, max_connections: int) -> Database:
    parsed = urlparse(url)
    options: dict[str, object] = {
        **KEEPALIVES,
        **{key: values[-1] for key, values in parse_qs(parsed.query).items()},
    }
    statement_ms = round(STATEMENT_TIMEOUT_SECONDS * 1000)
    server_options = f"-c statement_timeout={statement_ms} {options.pop('options', '')}"
    options.pop("connect_timeout", None)  # the answer timeout bounds connecting too
    extensions.set_wait_callback(_wait_with_deadline)
    return PooledPostgresqlDatabase(
        unquote(parsed.path.lstrip("/")) or "postgres",
        user=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        max_connections=max_connections,
        stale_timeout=300,
        options=server_options.strip(),
        **options,
    )


def _cut(connection: extensions.connection) -> None:
    """Break the connection at the socket, so that psycopg2 and the pool see it
    as lost. (close() would first try to cancel the query, which blocks on a
    server that does not answer.)"""
    with socket.socket(fileno=os.dup(connection.fileno())) as sock:
        sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def call_deadline(seconds_left: float | None) -> Iterator[None]:
    """Within this block every database wait ends by the caller's deadline
    (`seconds_left`, None if it set none) or CALL_TIMEOUT_SECONDS from now,
    whichever comes first."""
    budget = (
        CALL_TIMEOUT_SECONDS if seconds_left is None else min(seconds_left, CALL_TIMEOUT_SECONDS)
    )
    token = _call_deadline.set(time.monotonic() + budget)
    try:
        yield
    finally:
        _call_deadline.reset(token)


def _wait_with_deadline(connection: extensions.connection) -> None:
    """psycopg2's wait callback (see psycopg2.extras.wait_select), bounded: past
    ANSWER_TIMEOUT_SECONDS or the call's deadline the connection is cut (so the
    pool discards it) and the statement fails as an OperationalError."""
    deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
    call_ends = _call_deadline.get()
    if call_ends is not None:
        deadline = min(deadline, call_ends)
    while True:
        state = connection.poll()
        if state == extensions.POLL_OK:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            _cut(connection)
            raise psycopg2.OperationalError("the database did not answer in time")
        if state == extensions.POLL_READ:
            select.select([connection.fileno()], [], [], left)
        elif state == extensions.POLL_WRITE:
            select.select([], [connection.fileno()], [], left)
        else:
            raise psycopg2.OperationalError(f"unexpected state from poll: {state}")


def _sqlite(path: str) -> Database:
    # sqlite:///relative/file.db parses to "/relative/file.db"; sqlite:////abs/file.db
    # to "//abs/file.db": dropping the first slash gives the path either way.
    file = Path(path[1:])
    file.parent.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(
        str(file),
        pragmas={"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1},
        timeout=5,
    )


def is_postgres(db: AnyDatabase) -> bool:
    return isinstance(getattr(db, "obj", db), PooledPostgresqlDatabase)


def close_all(db: AnyDatabase) -> None:
    """Close every connection, pooled ones too: before forking, and at exit."""
    real = getattr(db, "obj", db)
    if isinstance(real, PooledPostgresqlDatabase):
        real.close_all()
    else:
        real.close()


def write_transaction(db: AnyDatabase):  # type: ignore[no-untyped-def]
    """A transaction that takes its write lock up front on SQLite (whole file),
    so read-check-write sequences are serialised there as FOR UPDATE does on
    PostgreSQL."""
    real = getattr(db, "obj", db)
    if is_postgres(real):
        return real.atomic()
    return real.atomic(lock_type="IMMEDIATE")


def locked(query, db: AnyDatabase):  # type: ignore[no-untyped-def]
    """`SELECT ... FOR UPDATE` where the database has it (inside write_transaction)."""
    return query.for_update() if is_postgres(db) else query


def serialize_on(db: AnyDatabase, key: str) -> None:
    """Inside write_transaction: one transaction at a time per `key` (PostgreSQL
    advisory lock; SQLite's immediate transaction already serialises everything)."""
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(key.encode()),))
