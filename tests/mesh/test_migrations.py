"""Migrations apply once, in order, on SQLite and PostgreSQL."""

import threading

import pytest
from peewee import DatabaseProxy

from gateway.settings import ROOT
from mesh.db import close_all, open_database
from mesh.migrations import migrate


@pytest.mark.parametrize(
    "package, table", [("media_service.migrations", "media"), ("post_service.migrations", "posts")]
)
def test_migrations_apply_once(database_url, package, table):
    db = DatabaseProxy()
    db.initialize(open_database(database_url))

    first = migrate(db, package, f"{table}_history")
    second = migrate(db, package, f"{table}_history")

    assert first and first[0].startswith("0001_")
    assert second == []
    with db.connection_context():
        assert table in db.get_tables()
    close_all(db)


def test_processes_starting_together_apply_each_migration_once(database_url):
    results: list[list[str]] = []

    def run() -> None:
        db = DatabaseProxy()
        db.initialize(open_database(database_url))
        results.append(migrate(db, "media_service.migrations", "media_history"))
        close_all(db)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = sorted(p.stem for p in (ROOT / "media_service" / "migrations").glob("[0-9]*.py"))
    assert sorted(results, key=len) == [[], [], [], every]
