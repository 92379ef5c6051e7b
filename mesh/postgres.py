"""PostgreSQL for the services: a small pool, and no wait without an end.

- Every wait on the server (connecting included) is bounded by psycopg2's
  wait callback: ANSWER_TIMEOUT_SECONDS for any one answer, and the current
  call's deadline (`call_deadline`). Past it the connection is cut, so the
  pool drops it, and the statement fails as an OperationalError (503).
- Checking a pooled connection out costs no round trip: a connection whose
  socket has something to read while idle (the server's goodbye, or EOF) is
  dropped; TCP keepalives find a peer that vanished without one.
- `listen` follows a notification channel on a connection of its own,
  reconnecting with backoff.
"""

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import psycopg2
from peewee import Database
from playhouse.pool import PooledPostgresqlDatabase
from psycopg2 import extensions

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

# A server runs more calls at once than it has connections (each open stream
# holds a thread): a call waits this long for a pooled connection, then is
# UNAVAILABLE.
POOL_WAIT_SECONDS = 5
# A LISTEN connection that is lost is made again after this, doubling up to the max.
FIRST_RECONNECT_SECONDS = 1.0
MAX_RECONNECT_SECONDS = 30.0
LISTEN_WAKE_SECONDS = 1.0  # how soon a listener sees `stop`

log = logging.getLogger(__name__)

# When the current call must be over (time.monotonic()), if its caller set a deadline.
_call_deadline: ContextVar[float | None] = ContextVar("call_deadline", default=None)


class Pool(PooledPostgresqlDatabase):  # type: ignore[misc]  # playhouse ships no types
    """peewee's pool, checking a connection out without a round trip (peewee
    sends `SELECT 1`, under the pool's lock, which serialises every call)."""

    def _is_closed(self, conn: Any) -> bool:
        if conn.closed or conn.get_transaction_status() != extensions.TRANSACTION_STATUS_IDLE:
            return True
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        return bool(readable)  # an idle connection is sent nothing but a goodbye


def open_postgres(url: str, max_connections: int) -> Database:
    params = connection_params(url)
    extensions.set_wait_callback(_wait_with_deadline)
    return Pool(
        params.pop("dbname"),
        max_connections=max_connections,
        stale_timeout=300,
        timeout=POOL_WAIT_SECONDS,
        **params,
    )


def connection_params(url: str) -> dict[str, Any]:
    """psycopg2's connection parameters for `url`, with the mesh's statement
    timeout and TCP keepalives."""
    parsed = urlparse(url)
    options: dict[str, Any] = {
        **KEEPALIVES,
        **{key: values[-1] for key, values in parse_qs(parsed.query).items()},
    }
    statement_ms = round(STATEMENT_TIMEOUT_SECONDS * 1000)
    server_options = f"-c statement_timeout={statement_ms} {options.pop('options', '')}"
    options.pop("connect_timeout", None)  # the answer timeout bounds connecting too
    return {
        "dbname": unquote(parsed.path.lstrip("/")) or "postgres",
        "user": unquote(parsed.username) if parsed.username else None,
        "password": unquote(parsed.password) if parsed.password else None,
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "options": server_options.strip(),
        **options,
    }


def listen(
    url: str,
    channel: str,
    on_listening: Callable[[], None],
    on_notification: Callable[[str], None],
    stop: threading.Event,
) -> None:
    """Until `stop` is set: LISTEN on `channel` on a connection of its own and
    pass each notification's payload to `on_notification`, in commit order.
    `on_listening` is called each time the LISTEN is in place, the first time
    and after every reconnection (what was notified in between is lost)."""
    delay = FIRST_RECONNECT_SECONDS
    while not stop.is_set():
        try:
            connection = psycopg2.connect(**connection_params(url))
            try:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {channel}")
                on_listening()
                delay = FIRST_RECONNECT_SECONDS
                _deliver(connection, on_notification, stop)
            finally:
                connection.close()
        except psycopg2.Error as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            log.warning(f"LISTEN {channel}: {reason}; reconnecting in {delay:g} s")
            stop.wait(delay)
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)


def _deliver(
    connection: extensions.connection, on_notification: Callable[[str], None], stop: threading.Event
) -> None:
    while not stop.is_set():
        readable, _, _ = select.select([connection], [], [], LISTEN_WAKE_SECONDS)
        if not readable:
            continue
        connection.poll()  # a lost connection raises here
        while connection.notifies:
            on_notification(connection.notifies.pop(0).payload)


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


def statement_deadline() -> datetime:
    """When the client stops waiting for a statement sent now (UTC, naive, as
    the mesh stores time): the answer timeout, or the call's deadline if sooner."""
    ends = time.monotonic() + ANSWER_TIMEOUT_SECONDS
    call_ends = _call_deadline.get()
    if call_ends is not None:
        ends = min(ends, call_ends)
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=ends - time.monotonic())


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
