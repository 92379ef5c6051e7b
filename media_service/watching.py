"""WatchMedia: a caller follows some of its media until each is settled.

    open: check the ids ─▶ take a stream slot ─▶ subscribe to the change feed ─▶ read each media
    events: each media as it is now, then each new version whose status, post or progress
            changed, a keep-alive (None) after KEEPALIVE seconds of quiet; ends
            once every media is settled (READY, FAILED or ended), or on close()

Versions are ordered by `media.version`, which the database raises on every
update: a notification older than the first read, or one seen twice, is
skipped, so events never go back in time. Every database step takes its own
connection: a stream may stay open for a long time, a pooled connection
should not.
"""

import logging
import time
from collections.abc import Callable, Iterator

from media_service.changes import DRAINED, RESYNC, ChangeFeed, Subscription
from media_service.library import not_found
from media_service.models import Media, database
from media_service.reasons import MediaReason
from media_service.status import SETTLED, Status
from media_service.stream_slots import StreamSlots
from mesh.db import connection_for
from mesh.errors import Unavailable, invalid_field
from mesh.ids import checked_id

log = logging.getLogger(__name__)

MAX_IDS = 50
# A stream of a server that shuts down ends with UNAVAILABLE: clients reopen it
# (on another process), the first event then stating where each media stands.
DRAINING = "this server is shutting down; open the stream again"


class Watcher:
    """Opens watches for the callers of one process; `drain()` ends them all."""

    def __init__(self, feed: ChangeFeed, slots: StreamSlots, keepalive_seconds: float) -> None:
        self._feed = feed
        self._slots = slots
        self._keepalive_seconds = keepalive_seconds

    def open(self, user_id: str, media_ids: list[str]) -> "Watch":
        ids = _checked(media_ids)
        slot = self._slots.take(user_id)
        try:
            subscription = self._feed.subscribe(ids)
            try:
                first = _owned(user_id, ids)
            except BaseException:
                subscription.close()
                raise
        except BaseException:
            self._slots.release(slot)
            raise
        return Watch(
            first, subscription, lambda: self._slots.release(slot), self._keepalive_seconds
        )

    def drain(self) -> None:
        self._feed.drain()


class Watch:
    def __init__(
        self,
        first: list[Media],
        subscription: Subscription,
        release: Callable[[], None],
        keepalive_seconds: float,
    ) -> None:
        self._first = first
        self._subscription = subscription
        self._release = release
        self._keepalive_seconds = keepalive_seconds
        self._sent: dict[str, Media] = {}
        self._closed = False

    def events(self) -> Iterator[Media | None]:
        """The media, then their changes; None is a keep-alive."""
        try:
            for media in self._first:
                yield from self._changed(media)
            quiet_since = time.monotonic()
            while self._unsettled():
                item = self._subscription.next(
                    quiet_since + self._keepalive_seconds - time.monotonic()
                )
                if item is None:
                    yield None
                    quiet_since = time.monotonic()
                    continue
                if isinstance(item, Media):
                    fresh = [item]
                elif item == RESYNC:
                    fresh = _reread(self._unsettled())
                elif item == DRAINED:
                    raise Unavailable(DRAINING, reason=MediaReason.SERVER_DRAINING)
                else:  # CLOSED
                    return
                for media in fresh:
                    for event in self._changed(media):
                        yield event
                        quiet_since = time.monotonic()
        finally:
            self.close()

    def close(self) -> None:
        """Idempotent; from any thread (the RPC's end calls it)."""
        if not self._closed:
            self._closed = True
            self._subscription.close()
            self._release()

    def _changed(self, media: Media) -> Iterator[Media]:
        last = self._sent.get(media.id)
        if last is not None and (media.version <= last.version or _shown(media) == _shown(last)):
            return
        self._sent[media.id] = media
        yield media

    def _unsettled(self) -> list[str]:
        return [m.id for m in self._sent.values() if m.status not in SETTLED]


def _shown(media: Media) -> tuple[object, ...]:
    """What a watcher is sent a new event for (as the change feed publishes)."""
    return (media.status, media.post_id, media.processing_progress)


def _checked(media_ids: list[str]) -> list[str]:
    if not media_ids:
        raise invalid_field("mediaIds", "mediaIds is required: name 1 to 50 media to watch")
    if len(media_ids) > MAX_IDS:
        raise invalid_field(
            "mediaIds", f"at most {MAX_IDS} mediaIds may be watched at once, got {len(media_ids)}"
        )
    for media_id in media_ids:
        checked_id("mediaIds", media_id)
    if len(set(media_ids)) != len(media_ids):
        raise invalid_field("mediaIds", "mediaIds contains duplicates")
    return media_ids


def _owned(user_id: str, ids: list[str]) -> list[Media]:
    """The caller's media in the order asked; another user's is NOT_FOUND like a missing one."""
    with connection_for(database):
        found = {
            m.id: m for m in Media.select().where(Media.id.in_(ids) & (Media.owner_id == user_id))
        }
    for media_id in ids:
        if media_id not in found or found[media_id].status == Status.DELETED:
            raise not_found(media_id)
    return [found[media_id] for media_id in ids]


def _reread(ids: list[str]) -> list[Media]:
    with connection_for(database):
        return list(Media.select().where(Media.id.in_(ids)))
