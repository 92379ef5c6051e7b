"""The session cap and the PENDING record in one statement, on each database:
exact however many of one user's requests race, and never written late."""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest

from media_service import admission
from media_service.models import Status, database
from mesh.db import close_all, open_database, utcnow
from mesh.errors import Unavailable
from mesh.migrations import migrate
from tests.support import fresh_postgres_database


@contextmanager
def _media_table(url: str) -> Iterator[None]:
    database.initialize(open_database(url, max_connections=40))
    migrate(database, "media_service.migrations", "media_schema_migrations")
    try:
        yield
    finally:
        close_all(database)


@pytest.fixture
def media_table(database_url: str) -> Iterator[None]:
    """The media table on SQLite, then on PostgreSQL."""
    with _media_table(database_url):
        yield


@pytest.fixture
def postgres_media_table() -> Iterator[None]:
    with fresh_postgres_database() as url, _media_table(url):
        yield


def _row(owner: str) -> dict[str, object]:
    now = utcnow()
    media_id = str(uuid.uuid4())
    return {
        "id": media_id,
        "owner_id": owner,
        "media_type": "post-image",
        "status": Status.PENDING,
        "file_name": "a.jpg",
        "file_type": "image/jpeg",
        "file_size": 1000,
        "storage_key": f"post-image/{owner}/1-{media_id}.jpg",
        "expires_at": now + timedelta(minutes=15),
        "urls_expire_at": now + timedelta(minutes=15),
        "created_at": now,
        "updated_at": now,
    }


def _admit(owner: str) -> bool:
    with database.connection_context():
        return admission.admit(_row(owner), limit=20, now=utcnow()) is not None


def test_100_concurrent_sessions_of_one_user_give_exactly_the_cap(media_table):
    with ThreadPoolExecutor(max_workers=32) as pool:
        admitted = list(pool.map(lambda _: _admit("alice"), range(100)))

    assert admitted.count(True) == 20
    with database.connection_context():
        assert admission.writable_uploads("alice", utcnow()) == 20


def test_the_cap_is_per_user(media_table):
    for _ in range(20):
        assert _admit("alice")

    assert not _admit("alice")
    assert _admit("bob")


def test_ended_uploads_with_live_urls_still_count(media_table):
    for _ in range(20):
        assert _admit("alice")
    with database.connection_context():
        database.execute_sql("UPDATE media SET status = 'ABORTED'")

        assert admission.writable_uploads("alice", utcnow()) == 20
        later = utcnow() + timedelta(minutes=16)
        assert admission.writable_uploads("alice", later) == 0


def test_a_statement_postgresql_runs_after_the_caller_gave_up_writes_nothing(
    postgres_media_table,
):
    # (SQLite runs in-process: a statement runs at once or not at all.)
    past = utcnow() - timedelta(seconds=1)

    with (
        mock.patch("mesh.db.statement_deadline", return_value=past),
        pytest.raises(Unavailable, match="the database is unavailable"),
    ):
        _admit("alice")

    with database.connection_context():
        assert admission.writable_uploads("alice", utcnow()) == 0
