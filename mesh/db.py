"""Opening the database a service's models are bound to.

Each service declares its own `DatabaseProxy` in its models module and
initialises it at start with `open_database(url)`: PostgreSQL through a small
connection pool, or an SQLite file for the embedded mode. Connections are
scoped to one call or one job (`connection_context()`), which is what grpc's
thread pool and dramatiq's worker threads need.
"""

import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from peewee import Database, DatabaseProxy, SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase

from mesh.config import ConfigError

# A service's models bind to a DatabaseProxy; helpers take it or the real database.
AnyDatabase = Database | DatabaseProxy

CONNECT_TIMEOUT_SECONDS = 3
STATEMENT_TIMEOUT_MS = 10_000


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
    options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    try:
        connect_timeout = int(options.pop("connect_timeout", CONNECT_TIMEOUT_SECONDS))
    except ValueError:
        raise ConfigError("DATABASE_URL: connect_timeout must be an integer") from None
    server_options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} {options.pop('options', '')}"
    return PooledPostgresqlDatabase(
        unquote(parsed.path.lstrip("/")) or "postgres",
        user=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        max_connections=max_connections,
        stale_timeout=300,
        # A database that is down must fail the call quickly (UNAVAILABLE), not hang.
        connect_timeout=connect_timeout,
        options=server_options.strip(),
        **options,
    )


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
