"""The janitor: what no request is there to do. One pass:

1. stale sessions: PENDING past `expires_at` → EXPIRED;
2. unposted: media in no post for UNATTACHED_TTL since they were uploaded
   (or detached from a deleted post) → DELETED;
3. ended media (EXPIRED, REJECTED, ABORTED, DELETED) whose storage is not yet
   emptied: multipart upload aborted, original and outputs deleted. The
   request that ended it removed what was there then; this pass waits until
   no presigned URL of it can still be used, so a late PUT is removed too;
4. forgotten jobs: UPLOADED but never queued (the broker was down at
   complete), or PROCESSING for over an hour (retries exhausted) → queued.

`python -m media_service.janitor` runs one pass; the workers run one every
JANITOR_INTERVAL_SECONDS. Every step is conditional on the status it read, so
passes may overlap each other and live requests safely.
"""

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from media_service import metrics
from media_service.dedup import shared_elsewhere
from media_service.models import Media, database
from media_service.status import ENDED, VERIFIED, Status, move
from media_service.storage import Storage
from mesh.db import utcnow

log = logging.getLogger(__name__)

REQUEUE_AFTER = timedelta(minutes=1)
STUCK_AFTER = timedelta(hours=1)
BATCH = 500


class Janitor:
    def __init__(
        self, storage: Storage, enqueue: Callable[[str], None] | None, unattached_ttl: timedelta
    ) -> None:
        self._storage = storage
        self._enqueue = enqueue
        self._unattached_ttl = unattached_ttl

    def run_pass(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        with database.connection_context():
            counts["expired"] = self._expire_sessions()
            counts["deleted_unattached"] = self._delete_unattached()
            counts["cleaned"] = self._clean_ended()
            if self._enqueue is not None:
                counts["queued"] = self._queue_forgotten(self._enqueue)
        for action, count in counts.items():
            metrics.JANITOR_ACTIONS.labels(action).inc(count)
        metrics.UPLOADS.labels(Status.EXPIRED).inc(counts["expired"])
        log.info("janitor pass", extra={"fields": dict(counts)})
        return counts

    def _expire_sessions(self) -> int:
        return move(Media.expires_at < utcnow(), Status.PENDING, Status.EXPIRED)

    def _delete_unattached(self) -> int:
        # post_id IS NULL in the same statement: an attach that wins the row lock wins.
        unposted = Media.post_id.is_null() & (
            Media.unattached_since < utcnow() - self._unattached_ttl
        )
        return move(unposted, VERIFIED, Status.DELETED)

    def _clean_ended(self) -> int:
        ended = (
            Media.select()
            .where(
                Media.status.in_(ENDED)
                & Media.cleaned_at.is_null()
                & (Media.urls_expire_at.is_null() | (Media.urls_expire_at < utcnow()))
            )
            .limit(BATCH)
        )
        cleaned = 0
        for media in ended:
            if not shared_elsewhere(media.storage_key, media.id):  # else a copy still uses them
                self._storage.remove(media.storage_key, media.upload_id)
            Media.update(cleaned_at=utcnow()).where(Media.id == media.id).execute()
            cleaned += 1
        return cleaned

    def _queue_forgotten(self, enqueue: Callable[[str], None]) -> int:
        now = utcnow()
        forgotten = (
            Media.select(Media.id)
            .where(
                (
                    (Media.status == Status.UPLOADED)
                    & Media.enqueued_at.is_null()
                    & (Media.updated_at < now - REQUEUE_AFTER)
                )
                | ((Media.status == Status.PROCESSING) & (Media.updated_at < now - STUCK_AFTER))
            )
            .limit(BATCH)
        )
        queued = 0
        for media in forgotten:
            enqueue(media.id)
            Media.update(enqueued_at=utcnow(), updated_at=utcnow()).where(
                Media.id == media.id
            ).execute()
            queued += 1
        return queued
