"""Numbered, forward-only schema migrations, one set per service.

A service keeps its migrations in a package of modules named
`NNNN_description.py`, each with `up(db)` (and `down(db)` for a manual
rollback). A migration never imports the service's models: it declares the
tables as they were at that version. Applied versions are recorded in the
service's own table; the whole run holds a lock (an advisory lock on
PostgreSQL, an immediate transaction on SQLite) so that processes starting
together apply each migration once.
"""

import importlib
import logging
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from peewee import CharField, DateTimeField, Model

from mesh.db import AnyDatabase, serialize_on, utcnow, write_transaction

log = logging.getLogger(__name__)


def migrate(db: AnyDatabase, package: str, table: str) -> list[str]:
    """Apply the migrations of `package` not yet recorded in `table`; return their names."""
    history = _history_model(db, table)
    applied: list[str] = []
    with db.connection_context(), _locked(db, table):
        db.create_tables([history], safe=True)
        done = {row.name for row in history.select(history.name)}
        for name in _migration_names(package):
            if name in done:
                continue
            importlib.import_module(f"{package}.{name}").up(getattr(db, "obj", db))
            history.create(name=name, applied_at=utcnow())
            applied.append(name)
            log.info("applied migration %s", name)
    return applied


def _migration_names(package: str) -> list[str]:
    module = importlib.import_module(package)
    names = [info.name for info in pkgutil.iter_modules(module.__path__)]
    return sorted(name for name in names if name[:4].isdigit())


def _history_model(db: AnyDatabase, table: str) -> Any:
    class History(Model):
        name = CharField(primary_key=True)
        applied_at = DateTimeField()

        class Meta:
            database = db
            table_name = table

    return History


@contextmanager
def _locked(db: AnyDatabase, table: str) -> Iterator[None]:
    with write_transaction(db):
        serialize_on(db, f"migrations:{table}")
        yield
