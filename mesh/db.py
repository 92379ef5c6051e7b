"""Opening the database a service's models are bound to.

Each service declares its own `DatabaseProxy` in its models module and
initialises it at start with `open_database(url)`: PostgreSQL through a small
connection pool, or an SQLite file for the embedded mode. Connections are
scoped to one call or one job (`connection_context()`), which is what grpc's
thread pool and dramatiq's worker threads need.
"""

import hashlib
import re
import sqlite3
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from weakref import WeakKeyDictionary

from peewee import Database, DatabaseProxy, InterfaceError, OperationalError, SqliteDatabase
from playhouse.pool import MaxConnectionsExceeded

from mesh.config import ConfigError
from mesh.errors import Reason, Unavailable
from mesh.postgres import Pool, call_deadline, open_postgres, statement_deadline

# A service's models bind to a DatabaseProxy; helpers take it or the real database.
AnyDatabase = Database | DatabaseProxy

WAL_SWITCH_SECONDS = 10.0
# What a caller reads when the database cannot be reached or answers too late.
DATABASE_UNAVAILABLE = "the database is unavailable; try again shortly"


def utcnow() -> datetime:
    """Now in UTC, naive: how every table of the mesh stores time."""
    return datetime.now(UTC).replace(tzinfo=None)


def open_database(url: str, max_connections: int = 20) -> Database:
    parsed = urlparse(url)
    if parsed.scheme in ("postgresql", "postgres"):
        return open_postgres(url, max_connections)
    if parsed.scheme == "sqlite":
        return _sqlite(parsed.path)
    raise ConfigError(f"DATABASE_URL must be postgresql:// or sqlite:///, got {url!r}")


def _sqlite(path: str) -> Database:
    # sqlite:///relative/file.db parses to "/relative/file.db"; sqlite:////abs/file.db
    # to "//abs/file.db": dropping the first slash gives the path either way.
    file = Path(path[1:])
    file.parent.mkdir(parents=True, exist_ok=True)
    _in_wal_mode(file)
    return SqliteDatabase(str(file), pragmas={"busy_timeout": 5000, "foreign_keys": 1}, timeout=5)


def _in_wal_mode(file: Path) -> None:
    """Put the file in WAL mode (it stays so) before any connection uses it.
    Switching takes an exclusive lock that SQLite does not wait for, so
    processes opening a new file together retry here for a while, instead of
    one of them failing "database is locked" on its first connection."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            with closing(sqlite3.connect(file, timeout=5)) as connection:
                connection.execute("PRAGMA journal_mode = wal")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def connection_for(db: AnyDatabase, seconds_left: float | None = None) -> Iterator[None]:
    """One pooled connection for the block, no wait on it outlasting
    `seconds_left` (the caller's deadline, if any); a database that cannot be
    reached, or does not answer in time, is UNAVAILABLE."""
    try:
        with call_deadline(seconds_left), db.connection_context():
            yield
    except (OperationalError, InterfaceError, MaxConnectionsExceeded) as error:
        raise Unavailable(DATABASE_UNAVAILABLE, reason=Reason.DATABASE_UNAVAILABLE) from error


def is_postgres(db: AnyDatabase) -> bool:
    return isinstance(getattr(db, "obj", db), Pool)


def close_all(db: AnyDatabase) -> None:
    """Close every connection, pooled ones too: before forking, and at exit."""
    real = getattr(db, "obj", db)
    if isinstance(real, Pool):
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


def insert_serialized(
    db: AnyDatabase, key: str, sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Run `sql` (an INSERT ... SELECT ... WHERE <what may be inserted> RETURNING,
    `%s` placeholders) with no other such statement on `key` between its check
    and its write: the rows it returned.

    PostgreSQL: the advisory lock and the statement go in one two-statement
    query, one round trip, which the server runs as one transaction; the
    INSERT's snapshot is taken after the lock is held, so it sees every row
    inserted under the same key before. The statement is prepared once per
    connection (planning it each time was a third of the server's work).
    SQLite: an immediate transaction.
    """
    if is_postgres(db):
        name = _prepared(db, sql)
        locked_sql = (
            f"SELECT pg_advisory_xact_lock(%s); EXECUTE {name} ({', '.join(['%s'] * len(params))})"
        )
        return list(db.execute_sql(locked_sql, (_lock_id(key), *params)).fetchall())
    with write_transaction(db):
        return list(db.execute_sql(sql_for(db, sql), params).fetchall())


# The statements each PostgreSQL connection has prepared, by connection.
_prepared_on: "WeakKeyDictionary[Any, set[str]]" = WeakKeyDictionary()


def _prepared(db: AnyDatabase, sql: str) -> str:
    """The name under which `sql` is prepared on the current connection."""
    name = f"mesh_{hashlib.sha1(sql.encode()).hexdigest()[:16]}"
    done = _prepared_on.setdefault(db.connection(), set())
    if name not in done:
        numbered = iter(range(1, sql.count("%s") + 1))
        db.execute_sql(f"PREPARE {name} AS {re.sub('%s', lambda _: f'${next(numbered)}', sql)}")
        done.add(name)
    return name


def sql_for(db: AnyDatabase, sql: str) -> str:
    """`sql` written with `%s` placeholders, in the database's own placeholder."""
    return sql if is_postgres(db) else sql.replace("%s", "?")


def while_awaited(db: AnyDatabase) -> tuple[str, tuple[Any, ...]]:
    """A condition for a write (SQL and its params): true only while the client
    still waits for the statement's answer. A server that stalls and runs the
    statement after the caller was told 503 then writes nothing (PostgreSQL
    cannot know its client gave up). It compares the database's clock with
    ours: keep them in sync."""
    if not is_postgres(db):
        return "1 = 1", ()  # in-process: the statement runs now or not at all
    return "(clock_timestamp() AT TIME ZONE 'UTC') < %s", (statement_deadline(),)


def _lock_id(key: str) -> int:
    return zlib.crc32(key.encode())


def serialize_on(db: AnyDatabase, key: str) -> None:
    """Inside write_transaction: one transaction at a time per `key` (PostgreSQL
    advisory lock; SQLite's immediate transaction already serialises everything)."""
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_lock_id(key),))
