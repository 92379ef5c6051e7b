"""How many WatchMedia streams each user has open, across every process.

Each open stream holds a row in `media_watches`; taking one counts the user's
live rows and inserts in one serialised statement (as admitting an upload
does, media_service/admission.py), so the cap is exact however many of one
user's streams open at once on however many processes. A process refreshes
its rows every HEARTBEAT_SECONDS; rows of a process that died stop counting
after STALE_SECONDS and are deleted later.
"""

import logging
import threading
import uuid
from datetime import timedelta

from media_service.models import database
from media_service.reasons import MediaReason
from mesh.db import connection_for, insert_serialized, sql_for, utcnow
from mesh.errors import ResourceExhausted, Unavailable
from mesh.schedule import every

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 90.0  # three missed heartbeats
FORGOTTEN_SECONDS = 3600.0  # when a dead process's rows are deleted

TAKE = (
    "INSERT INTO media_watches (id, user_id, opened_at, seen_at) SELECT %s, %s, %s, %s "
    "WHERE (SELECT COUNT(*) FROM media_watches WHERE user_id = %s AND seen_at > %s) < %s "
    "RETURNING id"
)

RELEASE = "DELETE FROM media_watches WHERE id = %s"


class StreamSlots:
    def __init__(self, per_user: int, per_process: int) -> None:
        self.per_user = per_user
        self.per_process = per_process
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._heartbeat: threading.Thread | None = None

    def take(self, user_id: str) -> str:
        """A slot for one more stream of `user_id`, or ResourceExhausted."""
        with self._lock:
            if len(self._held) >= self.per_process:
                raise Unavailable(
                    "this server has as many open streams as it can hold; retry",
                    reason=MediaReason.SERVER_AT_CAPACITY,
                )
            self._start_heartbeat()
        slot = str(uuid.uuid4())
        now = utcnow()
        stale = now - timedelta(seconds=STALE_SECONDS)
        params = (slot, user_id, now, now, user_id, stale, self.per_user)
        with connection_for(database):
            taken = insert_serialized(database, f"media-watches:{user_id}", TAKE, params)
        if not taken:
            raise ResourceExhausted(
                f"at most {self.per_user} WatchMedia streams may be open at once; "
                "close one (or wait for one to end) first",
                reason=MediaReason.TOO_MANY_STREAMS,
                metadata={"limit": self.per_user},
            )
        with self._lock:
            self._held.add(slot)
        return slot

    def release(self, slot: str) -> None:
        """Give the slot back. A database that cannot be reached leaves the row
        to go stale (it stops counting after STALE_SECONDS)."""
        with self._lock:
            if slot not in self._held:
                return
            self._held.discard(slot)
        try:
            with connection_for(database):
                database.execute_sql(sql_for(database, RELEASE), (slot,))
        except Unavailable:
            log.warning("a stream's slot was not released: it lapses in %g s", STALE_SECONDS)

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None:
            self._heartbeat = threading.Thread(
                target=every,
                args=(HEARTBEAT_SECONDS, self._refresh, threading.Event()),
                kwargs={"at_start": False},
                name="stream-slots",
                daemon=True,
            )
            self._heartbeat.start()

    def _refresh(self) -> None:
        """Our rows are alive; rows nobody refreshed for long are gone."""
        with self._lock:
            held = list(self._held)
        now = utcnow()
        with connection_for(database):
            if held:
                marks = ", ".join(["%s"] * len(held))
                refresh = f"UPDATE media_watches SET seen_at = %s WHERE id IN ({marks})"
                database.execute_sql(sql_for(database, refresh), (now, *held))
            forgotten = now - timedelta(seconds=FORGOTTEN_SECONDS)
            forget = "DELETE FROM media_watches WHERE seen_at < %s"
            database.execute_sql(sql_for(database, forget), (forgotten,))
