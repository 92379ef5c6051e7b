"""The change feed: every committed change of a media's status, post or processing progress,
delivered to the subscriptions of this process that follow it.

    any process ──UPDATE media──▶ database ──▶ one listener per process ──▶ its subscriptions

PostgreSQL publishes each change itself (migration 0004: a trigger NOTIFYs
the new row at commit, in commit order) and one thread per serving process
LISTENs, so a change is read from the database once, whichever process made
it and however many streams follow it. SQLite (the embedded mode) has no
notifications: one thread per process reads the rows its subscriptions follow,
in one query every POLL_SECONDS.

A listener that loses its connection misses what was notified meanwhile, so
each time it is (again) in place every subscription is told to read its media
afresh (RESYNC). Subscribing waits until the listener is in place, so that a
watcher's first read is never older than the feed it then follows.
"""

import json
import logging
import queue
import threading
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from peewee import DateTimeField

from media_service.models import Media, database
from media_service.reasons import MediaReason
from mesh import postgres
from mesh.db import connection_for, is_postgres
from mesh.errors import Unavailable

log = logging.getLogger(__name__)

CHANNEL = "media_changes"  # as migration 0004 names it
POLL_SECONDS = 0.25
READY_TIMEOUT_SECONDS = 5.0
NOT_LISTENING = "live status is unavailable right now; try again shortly"

RESYNC = "resync"  # read the media again: changes may have been missed
CLOSED = "closed"  # the watcher is gone
DRAINED = "drained"  # this process is shutting down: watch elsewhere

Item = Media | str  # a new version of a media, RESYNC, CLOSED or DRAINED


class Subscription:
    """What one watcher receives: media of `ids` as they change."""

    def __init__(self, feed: "ChangeFeed", ids: Collection[str]) -> None:
        self.ids = frozenset(ids)
        self._feed = feed
        self._items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._closed = threading.Event()

    def deliver(self, item: Item) -> None:
        self._items.put(item)

    def next(self, timeout: float) -> Item | None:
        """The next item, or None after `timeout` seconds without one."""
        if self._closed.is_set():
            return CLOSED
        try:
            return self._items.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop; a watcher waiting in `next` wakes up with CLOSED. Idempotent."""
        if not self._closed.is_set():
            self._closed.set()
            self._feed.unsubscribe(self)
            self._items.put(CLOSED)


Source = Callable[["ChangeFeed", threading.Event], None]


class ChangeFeed:
    """The subscriptions of one process and the one source feeding them,
    started with the first subscription."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, ids: Collection[str]) -> Subscription:
        subscription = Subscription(self, ids)
        with self._lock:
            self._subscriptions.add(subscription)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._source, args=(self, self._stop), name="change-feed", daemon=True
                )
                self._thread.start()
        if not self._ready.wait(READY_TIMEOUT_SECONDS):
            subscription.close()
            raise Unavailable(NOT_LISTENING, reason=MediaReason.CHANGE_FEED_UNAVAILABLE)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def watched(self) -> set[str]:
        with self._lock:
            return {media_id for s in self._subscriptions for media_id in s.ids}

    def publish(self, media: Media) -> None:
        for subscription in self._following(media.id):
            subscription.deliver(media)

    def listening(self) -> None:
        """The source is (again) in place: everyone reads afresh what it may have missed."""
        self._ready.set()
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.deliver(RESYNC)

    def not_listening(self) -> None:
        self._ready.clear()

    def stop(self) -> None:
        self._stop.set()

    def drain(self) -> None:
        """Stop, and tell every subscription that this process is going away."""
        self.stop()
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.deliver(DRAINED)

    def _following(self, media_id: str) -> list[Subscription]:
        with self._lock:
            return [s for s in self._subscriptions if media_id in s.ids]


def feed_for(database_url: str) -> ChangeFeed:
    """The feed for the database the media live in (bound before this is called)."""
    if is_postgres(database):
        return ChangeFeed(_listener(database_url))
    return ChangeFeed(_poll_rows)


def _listener(database_url: str) -> Source:
    def listen(feed: ChangeFeed, stop: threading.Event) -> None:
        def on_notification(payload: str) -> None:
            media = _media_from(payload)
            if media is not None:
                feed.publish(media)

        try:
            postgres.listen(database_url, CHANNEL, feed.listening, on_notification, stop)
        finally:
            feed.not_listening()

    return listen


def _media_from(payload: str) -> Media | None:
    """The row a notification carries; read from the database when the row was
    too large to be sent whole."""
    try:
        row = json.loads(payload)
    except ValueError:
        log.error("not a media row on %s: %.100s", CHANNEL, payload)
        return None
    if set(row) == {"id"}:
        return _read(row["id"])
    return _media_of_row(row)


def _media_of_row(row: dict[str, Any]) -> Media:
    values: dict[str, Any] = {}
    for field in Media._meta.sorted_fields:
        value = row.get(field.column_name)
        if isinstance(field, DateTimeField) and isinstance(value, str):
            value = datetime.fromisoformat(value)
        values[field.name] = value
    return Media(**values)


def _read(media_id: str) -> Media | None:
    try:
        with connection_for(database):
            return Media.get_or_none(Media.id == media_id)
    except Unavailable:
        log.warning("a changed media could not be read: its watchers will see its next change")
        return None


def _poll_rows(feed: ChangeFeed, stop: threading.Event) -> None:
    """SQLite: read the followed rows, publish those whose version moved."""
    feed.listening()
    seen: dict[str, int] = {}
    while not stop.wait(POLL_SECONDS):
        followed = feed.watched()
        seen = {media_id: v for media_id, v in seen.items() if media_id in followed}
        for media in _read_many(followed):
            if seen.get(media.id) != media.version:
                seen[media.id] = media.version
                feed.publish(media)


def _read_many(ids: Iterable[str]) -> list[Media]:
    wanted = list(ids)
    if not wanted:
        return []
    try:
        with connection_for(database):
            return list(Media.select().where(Media.id.in_(wanted)))
    except Unavailable:
        return []
