"""The session cap and the PENDING record in one statement, on each database:
exact however many of one user's requests race, and never written late."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from unittest import mock

import pytest
from google.rpc import error_details_pb2

from harness.postgres import fresh_postgres_database
from media_service import admission
from media_service.config import UploadPolicy
from media_service.models import Media, database
from media_service.usage import usage_of
from mesh.db import utcnow
from mesh.errors import ResourceExhausted, Unavailable
from tests.support import media_tables, pending_row


@pytest.fixture
def media_table(database_url: str) -> Iterator[None]:
    """The media table on SQLite, then on PostgreSQL."""
    with media_tables(database_url):
        yield


@pytest.fixture
def postgres_media_table() -> Iterator[None]:
    with fresh_postgres_database() as url, media_tables(url):
        yield


MIB = 1024 * 1024
GIB = 1024 * MIB
POLICY = UploadPolicy(
    multipart_ttl_seconds=86_400,
    max_pending_per_user=20,
    daily_upload_bytes=2 * GIB,
    stored_bytes=20 * GIB,
)


def _admit(owner: str, policy: UploadPolicy = POLICY, size: int = 1000) -> bool:
    """True if admitted, False if refused for being at a limit."""
    with database.connection_context():
        try:
            admission.admit({**pending_row(owner), "file_size": size}, policy, utcnow())
        except ResourceExhausted:
            return False
        return True


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


def _refusal(owner: str, policy: UploadPolicy, size: int) -> ResourceExhausted:
    with database.connection_context(), pytest.raises(ResourceExhausted) as raised:
        admission.admit({**pending_row(owner), "file_size": size}, policy, utcnow())
    return raised.value


def _set_status(owner: str, status: str, count: int) -> None:
    """Move `count` of the owner's PENDING media to `status`."""
    with database.connection_context():
        ids = [
            m.id
            for m in Media.select()
            .where((Media.owner_id == owner) & (Media.status == "PENDING"))
            .limit(count)
        ]
        Media.update(status=status).where(Media.id.in_(ids)).execute()


def _usage(owner: str, policy: UploadPolicy = POLICY):
    with database.connection_context():
        return usage_of(owner, policy, utcnow())


def test_25_concurrent_sessions_of_100_mib_against_2_gib_a_day_give_exactly_20(media_table):
    policy = replace(POLICY, max_pending_per_user=100)

    with ThreadPoolExecutor(max_workers=25) as pool:
        admitted = list(pool.map(lambda _: _admit("alice", policy, 100 * MIB), range(25)))

    assert admitted.count(True) == 20
    daily = _usage("alice", policy).daily
    assert (daily.reserved, daily.used, daily.remaining) == (2000 * MIB, 0, 48 * MIB)


def test_the_refusal_names_the_quota_and_what_is_left(media_table):
    policy = replace(POLICY, max_pending_per_user=100)
    for _ in range(20):
        assert _admit("alice", policy, 100 * MIB)

    refused = _refusal("alice", policy, 100 * MIB)

    assert refused.message.startswith(
        "daily-upload quota exceeded: this upload declares 100 MiB, 48 MiB of 2 GiB left today"
        " (it starts afresh at "
    )
    [failure] = refused.details
    assert isinstance(failure, error_details_pb2.QuotaFailure)
    [violation] = failure.violations
    assert violation.subject == "daily-upload"
    assert violation.description == f"{48 * MIB} bytes left of {2 * GIB}"
    assert refused.reason == "DAILY_QUOTA_EXCEEDED"
    assert refused.metadata.keys() == {"limit", "remaining", "resetsAt"}
    assert (refused.metadata["limit"], refused.metadata["remaining"]) == (
        str(2 * GIB),
        str(48 * MIB),
    )


def test_an_abort_an_expiry_or_a_rejection_returns_the_reservation(media_table):
    policy = replace(POLICY, max_pending_per_user=100, daily_upload_bytes=300 * MIB)
    for _ in range(3):
        assert _admit("alice", policy, 100 * MIB)
    assert not _admit("alice", policy, 100 * MIB)

    for ended in ("ABORTED", "EXPIRED", "REJECTED"):
        _set_status("alice", ended, 1)
        assert _admit("alice", policy, 100 * MIB), ended
        assert not _admit("alice", policy, 100 * MIB)


def test_a_session_past_its_expiry_holds_nothing_even_before_the_janitor_marks_it(media_table):
    policy = replace(POLICY, daily_upload_bytes=100 * MIB)
    assert _admit("alice", policy, 100 * MIB)
    with database.connection_context():
        Media.update(expires_at=utcnow() - timedelta(seconds=1)).execute()

    assert _admit("alice", policy, 100 * MIB)


def test_completed_uploads_count_as_used_and_a_delete_returns_only_the_stored_bytes(media_table):
    policy = replace(POLICY, daily_upload_bytes=300 * MIB, stored_bytes=200 * MIB)
    assert _admit("alice", policy, 100 * MIB)
    assert _admit("alice", policy, 100 * MIB)
    _set_status("alice", "READY", 2)
    usage = _usage("alice", policy)
    assert (usage.stored.used, usage.stored.remaining) == (200 * MIB, 0)
    assert (usage.daily.used, usage.daily.remaining) == (200 * MIB, 100 * MIB)

    refused = _refusal("alice", policy, 100 * MIB)
    assert refused.message.startswith(
        "stored quota exceeded: this upload declares 100 MiB, 0 bytes of 200 MiB left"
    )

    with database.connection_context():
        Media.update(status="DELETED").where(Media.id == Media.select(Media.id).limit(1)).execute()
    usage = _usage("alice", policy)
    assert usage.stored.used == 100 * MIB  # returned on delete
    assert usage.daily.used == 200 * MIB  # the bytes did go up today
    assert _admit("alice", policy, 100 * MIB)
