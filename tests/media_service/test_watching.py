"""The pieces of WatchMedia on each database: row versions, the change feed
(PostgreSQL's LISTEN, SQLite's poller), the streams cap, and a watch's order
of events."""

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg2
import pytest

from harness.postgres import fresh_postgres_database
from media_service.changes import CLOSED, RESYNC, ChangeFeed, Subscription, feed_for
from media_service.models import Media, database
from media_service.status import Status
from media_service.stream_slots import STALE_SECONDS, StreamSlots
from media_service.watching import Watch
from mesh.db import sql_for, utcnow
from mesh.errors import ResourceExhausted, Unavailable
from tests.support import media_tables, pending_row


@pytest.fixture
def media_table(database_url: str) -> Iterator[str]:
    """The media tables on SQLite, then on PostgreSQL; their URL."""
    with media_tables(database_url):
        yield database_url


@pytest.fixture
def postgres() -> Iterator[str]:
    with fresh_postgres_database() as url, media_tables(url):
        yield url


@pytest.fixture
def feed(media_table: str) -> Iterator[ChangeFeed]:
    running = feed_for(media_table)
    yield running
    running.stop()


def _new_media(owner: str = "alice") -> Media:
    row = pending_row(owner)
    with database.connection_context():
        Media.insert(**row).execute()
        return Media.get_by_id(row["id"])


def _move(media_id: str, **fields: object) -> None:
    with database.connection_context():
        Media.update(updated_at=utcnow(), **fields).where(Media.id == media_id).execute()


def _items(subscription: Subscription, count: int, timeout: float = 10) -> list[object]:
    items: list[object] = []
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        item = subscription.next(deadline - time.monotonic())
        if item is not None and item != RESYNC:
            items.append(item)
    return items


def test_the_database_raises_a_rows_version_on_every_update(media_table):
    media = _new_media()
    assert media.version == 0

    _move(media.id, status=Status.UPLOADED)
    _move(media.id, width=10)  # any update, not only of the status

    with database.connection_context():
        assert Media.get_by_id(media.id).version == 2


def test_a_status_change_reaches_a_subscriber_with_the_committed_row(feed):
    media = _new_media()
    subscription = feed.subscribe([media.id])

    _move(media.id, status=Status.READY, width=640, height=480, blurhash="LEHV6nWB2y")

    [changed] = _items(subscription, 1)
    assert isinstance(changed, Media)
    assert (changed.id, changed.status, changed.width, changed.blurhash) == (
        media.id,
        "READY",
        640,
        "LEHV6nWB2y",
    )
    assert changed.version == 1
    assert changed.created_at == media.created_at  # times decoded as the table holds them


def test_postgresql_publishes_every_committed_status_in_commit_order(postgres):
    feed = feed_for(postgres)
    media = _new_media()
    subscription = feed.subscribe([media.id])

    for status in (Status.UPLOADED, Status.PROCESSING, Status.READY):
        _move(media.id, status=status)  # three commits in a row, no pause

    seen = _items(subscription, 3)
    assert [m.status for m in seen] == ["UPLOADED", "PROCESSING", "READY"]  # type: ignore[attr-defined]
    assert [m.version for m in seen] == [1, 2, 3]  # type: ignore[attr-defined]
    feed.stop()


def test_postgresql_publishes_nothing_for_changes_no_watcher_shows(postgres):
    feed = feed_for(postgres)
    media = _new_media()
    subscription = feed.subscribe([media.id])

    _move(media.id, urls_expire_at=utcnow())
    _move(media.id, status=Status.UPLOADED)

    [first] = _items(subscription, 1)
    assert first.status == "UPLOADED"  # type: ignore[attr-defined]
    assert subscription.next(0.5) is None
    feed.stop()


def test_a_row_too_large_for_a_notification_is_read_from_the_table(postgres):
    feed = feed_for(postgres)
    media = _new_media()
    subscription = feed.subscribe([media.id])
    variants = json.dumps([{"name": f"v{i}", "url": "x" * 100} for i in range(100)])

    _move(media.id, status=Status.READY, variants=variants)

    [changed] = _items(subscription, 1)
    assert changed.status == "READY"  # type: ignore[attr-defined]
    assert changed.variants == variants  # type: ignore[attr-defined]
    feed.stop()


def _kill_listener(url: str) -> int:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN %%' AND datname = current_database()"
        )
        return len(cursor.fetchall())


def test_a_lost_listener_reconnects_and_tells_subscribers_to_read_afresh(postgres):
    feed = feed_for(postgres)
    media = _new_media()
    subscription = feed.subscribe([media.id])
    assert subscription.next(1) == RESYNC  # the first LISTEN

    assert _kill_listener(postgres) == 1

    assert subscription.next(10) == RESYNC  # in place again: what was missed is read
    _move(media.id, status=Status.UPLOADED)
    [changed] = _items(subscription, 1)
    assert changed.status == "UPLOADED"  # type: ignore[attr-defined]
    feed.stop()


def test_a_closed_subscription_wakes_its_reader_and_gets_nothing_more(feed):
    media = _new_media()
    subscription = feed.subscribe([media.id])
    woken: list[object] = []
    reader = threading.Thread(target=lambda: woken.append(_items(subscription, 1, timeout=30)))
    reader.start()

    subscription.close()

    reader.join(5)
    assert woken == [[CLOSED]]
    assert media.id not in feed.watched()


def test_the_cap_on_one_users_streams_is_exact_under_concurrency(media_table):
    slots = StreamSlots(per_user=10, per_process=1000)

    def take(_: int) -> bool:
        try:
            slots.take("alice")
            return True
        except ResourceExhausted:
            return False

    with ThreadPoolExecutor(max_workers=16) as pool:
        taken = list(pool.map(take, range(30)))

    assert taken.count(True) == 10
    slots.take("bob")  # per user


def test_a_released_slot_and_a_stale_one_no_longer_count(media_table):
    slots = StreamSlots(per_user=2, per_process=1000)
    first = slots.take("alice")
    second = slots.take("alice")
    with pytest.raises(ResourceExhausted):
        slots.take("alice")

    slots.release(first)
    third = slots.take("alice")
    # a process that died leaves its row: it stops counting once stale
    stale = utcnow() - timedelta(seconds=STALE_SECONDS + 1)
    with database.connection_context():
        lapse = sql_for(database, "UPDATE media_watches SET seen_at = %s WHERE id = %s")
        database.execute_sql(lapse, (stale, second))
    slots.take("alice")
    assert third


class _Feed(ChangeFeed):
    """A feed with no source: the test publishes."""

    def __init__(self) -> None:
        super().__init__(lambda feed, stop: feed.listening())


def _media(status: str, version: int, post_id: str | None = None) -> Media:
    return Media(id="m1", status=status, version=version, post_id=post_id)


def _watch(feed: ChangeFeed, first: Media, keepalive: float = 30) -> Watch:
    subscription = feed.subscribe(["m1"])
    assert subscription.next(1) == RESYNC  # the source in place, before the first read
    return Watch([first], subscription, lambda: None, keepalive)


def test_a_watch_skips_old_and_repeated_versions_and_ends_when_settled():
    feed = _Feed()
    watch = _watch(feed, _media("PROCESSING", 5))
    for media in [
        _media("UPLOADED", 4),  # committed before the first read: old
        _media("PROCESSING", 5),  # the same version again
        _media("PROCESSING", 6),  # nothing a watcher sees changed
        _media("READY", 7),
    ]:
        feed.publish(media)

    seen = [(m.status, m.version) for m in watch.events() if m is not None]

    assert seen == [("PROCESSING", 5), ("READY", 7)]


def test_a_quiet_watch_sends_keep_alives():
    feed = _Feed()
    watch = _watch(feed, _media("PROCESSING", 1), keepalive=0.2)
    events = watch.events()

    assert next(events).status == "PROCESSING"  # type: ignore[union-attr]
    started = time.monotonic()
    assert next(events) is None
    assert 0.15 <= time.monotonic() - started < 2
    feed.publish(_media("FAILED", 2))
    assert next(events).status == "FAILED"  # type: ignore[union-attr]
    assert list(events) == []


def test_closing_a_watch_from_another_thread_ends_its_events():
    feed = _Feed()
    watch = _watch(feed, _media("PENDING", 0))
    events = watch.events()
    assert next(events).status == "PENDING"  # type: ignore[union-attr]

    threading.Timer(0.2, watch.close).start()

    assert list(events) == []
    assert feed.watched() == set()


def test_a_drained_feed_ends_its_watches_as_unavailable():
    feed = _Feed()
    watch = _watch(feed, _media("PROCESSING", 1))
    events = watch.events()
    assert next(events).status == "PROCESSING"  # type: ignore[union-attr]

    feed.drain()

    with pytest.raises(Unavailable, match="shutting down"):
        next(events)
    assert feed.watched() == set()  # its subscription and slot are given back
