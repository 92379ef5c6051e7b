"""The session cap and the PENDING record in one statement, on each database:
exact however many of one user's requests race, and never written late."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from unittest import mock

import pytest

from media_service import admission
from media_service.models import database
from mesh.db import utcnow
from mesh.errors import Unavailable
from tests.support import fresh_postgres_database, media_tables, pending_row


@pytest.fixture
def media_table(database_url: str) -> Iterator[None]:
    """The media table on SQLite, then on PostgreSQL."""
    with media_tables(database_url):
        yield


@pytest.fixture
def postgres_media_table() -> Iterator[None]:
    with fresh_postgres_database() as url, media_tables(url):
        yield


def _admit(owner: str) -> bool:
    with database.connection_context():
        return admission.admit(pending_row(owner), limit=20, now=utcnow()) is not None


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
