"""Upload sessions: create, verify at complete, and read the caller's media.

The rules of the design live here: the storage key never uses the client's
file name; nothing becomes UPLOADED before the stored object has been checked
against the declaration; a repeated complete returns the same result and
never queues processing twice.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from media_service.models import Media, Status, database, utcnow
from media_service.storage import Storage
from media_service.validation import Declaration, validate
from mesh import paging
from mesh.db import locked, write_transaction
from mesh.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)

MULTIPART_THRESHOLD = 5 * 1024 * 1024
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class UploadSession:
    media: Media
    upload_url: str
    upload_headers: dict[str, str]


@dataclass(frozen=True)
class MediaPage:
    media: list[Media]
    next_page_token: str


class Uploads:
    def __init__(self, storage: Storage, enqueue: Callable[[str], None], ttl_seconds: int) -> None:
        self._storage = storage
        self._enqueue = enqueue
        self._ttl = timedelta(seconds=ttl_seconds)

    def create_session(self, user_id: str, declaration: Declaration) -> UploadSession:
        media_type = validate(declaration)
        if declaration.file_size > MULTIPART_THRESHOLD:
            raise InvalidArgument(
                f"fileSize over {MULTIPART_THRESHOLD} bytes needs a multipart upload, "
                "which this server does not offer yet"
            )
        media_id = str(uuid.uuid4())
        extension = media_type.extensions[declaration.file_type]
        key = storage_key(declaration.media_type, user_id, media_id, extension)
        upload = self._storage.presign_put(
            key, declaration.file_type, declaration.file_size, declaration.checksum_sha256 or None
        )
        now = utcnow()
        media = Media.create(
            id=media_id,
            owner_id=user_id,
            media_type=declaration.media_type,
            status=Status.PENDING,
            file_name=declaration.file_name,
            file_type=declaration.file_type,
            file_size=declaration.file_size,
            checksum_sha256=declaration.checksum_sha256 or None,
            storage_key=key,
            expires_at=now + self._ttl,
            created_at=now,
            updated_at=now,
        )
        return UploadSession(media=media, upload_url=upload.url, upload_headers=upload.headers)

    def complete(self, user_id: str, media_id: str) -> Media:
        media = self.get(user_id, media_id)
        if media.status in (Status.UPLOADED, Status.PROCESSING, Status.READY):
            return media  # idempotent: the first complete already did the work
        if media.status != Status.PENDING:
            raise FailedPrecondition(
                f"media {media_id} is {media.status}; only a PENDING upload can be completed"
            )
        stored = self._storage.head(media.storage_key)
        if stored is None:
            raise FailedPrecondition(
                f"nothing has been uploaded for media {media_id} yet: PUT the file to its "
                "uploadUrl first"
            )
        if stored.size != media.file_size:
            self._reject(
                media, f"size mismatch: declared {media.file_size} bytes, stored {stored.size}"
            )
        if stored.content_type != media.file_type:
            self._reject(
                media,
                f"type mismatch: declared {media.file_type}, stored {stored.content_type or 'none'}",
            )
        return self._mark_uploaded(media, stored.etag)

    def get(self, user_id: str, media_id: str) -> Media:
        """The caller's media; another user's answers NOT_FOUND like a missing one."""
        media = Media.get_or_none((Media.id == media_id) & (Media.owner_id == user_id))
        if media is None or media.status == Status.DELETED:
            raise NotFound(f"media {media_id} not found")
        return media

    def list(self, user_id: str, page_size: int, page_token: str) -> MediaPage:
        query = Media.select().where((Media.owner_id == user_id) & (Media.status != Status.DELETED))
        rows, next_token = paging.paginate(query, Media.created_at, Media.id, page_size, page_token)
        return MediaPage(media=rows, next_page_token=next_token)

    def abort(self, user_id: str, media_id: str) -> Media:
        """End a pending upload and remove whatever reached storage."""
        media = self.get(user_id, media_id)
        if media.status == Status.ABORTED:
            return media
        aborted = (
            Media.update(status=Status.ABORTED, updated_at=utcnow())
            .where((Media.id == media.id) & (Media.status == Status.PENDING))
            .execute()
        )
        if not aborted:
            raise FailedPrecondition(
                f"media {media_id} is {media.status}; only a PENDING upload can be aborted"
            )
        self._storage.delete(media.storage_key)
        return Media.get_by_id(media.id)

    def delete(self, user_id: str, media_id: str) -> Media:
        """Delete an unattached media and its original."""
        with write_transaction(database):
            query = Media.select().where((Media.id == media_id) & (Media.owner_id == user_id))
            media = locked(query, database).first()
            if media is None or media.status == Status.DELETED:
                raise NotFound(f"media {media_id} not found")
            if media.post_id:
                raise Conflict(
                    f"media {media_id} is attached to post {media.post_id}; delete the post first"
                )
            Media.update(status=Status.DELETED, updated_at=utcnow()).where(
                Media.id == media.id
            ).execute()
        self._storage.delete(media.storage_key)
        return Media.get_by_id(media.id)

    def _reject(self, media: Media, reason: str) -> None:
        """The stored object is not what was declared: end the upload and remove it."""
        Media.update(status=Status.REJECTED, failure_reason=reason, updated_at=utcnow()).where(
            (Media.id == media.id) & (Media.status == Status.PENDING)
        ).execute()
        self._storage.delete(media.storage_key)
        log.info("rejected upload", extra={"fields": {"media_id": media.id, "reason": reason}})
        raise InvalidArgument(f"upload rejected: {reason}")

    def _mark_uploaded(self, media: Media, etag: str) -> Media:
        # Conditional on PENDING: of two racing completes exactly one wins and enqueues.
        won = (
            Media.update(
                status=Status.UPLOADED,
                etag=etag,
                cdn_url=self._storage.public_url(media.storage_key),
                updated_at=utcnow(),
            )
            .where((Media.id == media.id) & (Media.status == Status.PENDING))
            .execute()
        )
        if won:
            self._queue_processing(media.id)
        return Media.get_by_id(media.id)

    def _queue_processing(self, media_id: str) -> None:
        try:
            self._enqueue(media_id)
        except Exception:
            # The media is recorded UPLOADED first; the sweeper re-queues what has
            # no enqueued_at, so a broker outage delays processing but loses nothing.
            log.exception("could not queue processing", extra={"fields": {"media_id": media_id}})
            return
        Media.update(enqueued_at=utcnow()).where(Media.id == media_id).execute()


def storage_key(media_type: str, user_id: str, media_id: str, extension: str) -> str:
    """`{mediaType}/{userId}/{timestamp}-{uuid}.{ext}`; the user id made key-safe."""
    safe_user = _UNSAFE_KEY_CHARS.sub("_", user_id)[:128]
    return f"{media_type}/{safe_user}/{int(time.time() * 1000)}-{media_id}.{extension}"
