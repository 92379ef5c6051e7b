"""Upload sessions: create (single PUT or multipart), resume, complete, abort.

The rules of the design live here: the storage key never uses the client's
file name; nothing becomes UPLOADED before the stored object has passed every
check in `verification`; a mistake the client can correct (wrong uploadId,
parts list or ETag) leaves the upload PENDING, while a stored object that is
not what was declared ends it REJECTED and is deleted; a repeated complete
returns the same media and never queues processing twice.
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NoReturn

from media_formats.media_types import MULTIPART_THRESHOLD
from media_formats.part_layout import Layout, layout_for
from media_service import library, metrics, verification
from media_service.admission import admit
from media_service.config import UploadPolicy
from media_service.dedup import copy_fields, still_ready, twin_of
from media_service.models import Media, Visibility, database
from media_service.multipart import URL_BATCH, check_against_storage, check_parts_list
from media_service.reasons import MediaReason
from media_service.status import VERIFIED, Status, move
from media_service.storage import MultipartRefused, Storage, StoredPart
from media_service.usage import Usage, usage_of
from media_service.validation import (
    Declaration,
    canonical_checksum,
    canonical_part_checksums,
    canonical_visibility,
    validate,
)
from media_service.verification import Mismatch
from mesh.db import utcnow, write_transaction
from mesh.errors import FailedPrecondition, InvalidArgument, invalid_field

log = logging.getLogger(__name__)

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")
# Where private media live: the CDN serves every key but these (see the README).
PRIVATE_PREFIX = "private/"


@dataclass(frozen=True)
class PartUrl:
    number: int
    url: str


@dataclass(frozen=True)
class UploadSession:
    media: Media
    upload_url: str = ""  # single PUT
    upload_headers: dict[str, str] = field(default_factory=dict)
    parts: list[PartUrl] = field(default_factory=list)  # multipart: the first batch
    deduplicated: bool = False  # READY at once, sharing the objects of the caller's twin


@dataclass(frozen=True)
class PartsListing:
    media: Media
    stored: list[StoredPart]
    missing: list[PartUrl]  # fresh URLs, a batch at a time
    next_part_number_marker: int  # 0: no missing part after this batch


class Uploads:
    def __init__(
        self, storage: Storage, enqueue: Callable[[str], None], policy: UploadPolicy
    ) -> None:
        self._storage = storage
        self._enqueue = enqueue
        self._policy = policy

    def usage(self, user_id: str) -> Usage:
        """The caller's byte quotas as they stand."""
        return usage_of(user_id, self._policy, utcnow())

    def create_session(self, user_id: str, declaration: Declaration) -> UploadSession:
        media_type = validate(declaration)
        declaration = replace(
            declaration,
            checksum_sha256=canonical_checksum(declaration.checksum_sha256),
            visibility=canonical_visibility(declaration.visibility),
        )
        media_id = str(uuid.uuid4())
        key = storage_key(
            declaration.media_type,
            user_id,
            media_id,
            media_type.extensions[declaration.file_type],
            private=declaration.visibility == Visibility.PRIVATE,
        )
        if declaration.file_size > MULTIPART_THRESHOLD:
            return self._create_multipart(user_id, declaration, media_id, key)
        if declaration.part_checksums_sha256:
            raise invalid_field(
                "partChecksumsSha256",
                f"partChecksumsSha256 is for multipart uploads (over {MULTIPART_THRESHOLD} bytes); "
                "a single upload declares checksumSha256",
            )
        copy = self._copy_of_twin(user_id, declaration, media_id)
        if copy is not None:
            return UploadSession(media=copy, deduplicated=True)
        upload = self._storage.presign_put(
            key, declaration.file_type, declaration.file_size, declaration.checksum_sha256 or None
        )
        media = self._record(
            user_id, declaration, media_id, key, self._storage.url_lifetime_seconds
        )
        return UploadSession(media=media, upload_url=upload.url, upload_headers=upload.headers)

    def list_parts(self, user_id: str, media_id: str, after: int) -> PartsListing:
        """For resuming: what storage holds, and URLs for the parts still missing."""
        if after < 0:
            raise invalid_field(
                "partNumberMarker", f"partNumberMarker must not be negative, got {after}"
            )
        media = self._pending_multipart(user_id, media_id, "resumed")
        stored = self._storage.list_parts(media.storage_key, _upload_id(media))
        if stored is None:
            raise FailedPrecondition(
                f"the multipart upload of media {media_id} is no longer open",
                reason=MediaReason.MULTIPART_CLOSED,
                metadata={"mediaId": media_id},
            )
        urls, next_marker = self._sign_missing(media, {p.number for p in stored}, after)
        if urls:
            fresh_until = utcnow() + timedelta(seconds=self._storage.url_lifetime_seconds)
            Media.update(urls_expire_at=fresh_until).where(Media.id == media.id).execute()
        return PartsListing(
            media=media, stored=stored, missing=urls, next_part_number_marker=next_marker
        )

    def complete(self, user_id: str, media_id: str) -> Media:
        media = library.owned(user_id, media_id)
        if media.status in VERIFIED:
            return media  # idempotent: the first complete already did the work
        if media.upload_id:
            raise FailedPrecondition(
                f"media {media_id} is a multipart upload: finish it with complete-multipart",
                reason=MediaReason.UPLOAD_IS_MULTIPART,
                metadata={"mediaId": media_id},
            )
        return self._verify(media)

    def complete_multipart(
        self, user_id: str, media_id: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> Media:
        media = library.owned(user_id, media_id)
        if not media.upload_id:
            raise FailedPrecondition(
                f"media {media_id} is a single upload: finish it with complete",
                reason=MediaReason.UPLOAD_IS_SINGLE,
                metadata={"mediaId": media_id},
            )
        if upload_id != media.upload_id:
            raise InvalidArgument(
                f"uploadId does not match the upload of media {media_id}",
                reason=MediaReason.UPLOAD_ID_MISMATCH,
                metadata={"mediaId": media_id},
            )
        if media.status in VERIFIED:
            return media
        _require_pending(media, "completed")
        check_parts_list(parts, _layout(media).total_parts)
        stored = self._storage.list_parts(media.storage_key, _upload_id(media))
        if stored is not None:  # None: a racing complete has assembled it already
            check_against_storage(parts, stored, _part_checksums(media))
            self._assemble(media, parts)
        return self._verify(media)

    def abort(self, user_id: str, media_id: str) -> Media:
        """End a pending upload and remove whatever reached storage."""
        media = library.owned(user_id, media_id)
        # A repeated abort (after a storage outage, say) removes what is left.
        if media.status != Status.ABORTED:
            if not move(Media.id == media.id, Status.PENDING, Status.ABORTED):
                raise _not_pending(media, "aborted")
            metrics.UPLOADS.labels(Status.ABORTED).inc()
        self._storage.remove(media.storage_key, media.upload_id)
        return Media.get_by_id(media.id)

    def _create_multipart(
        self, user_id: str, declaration: Declaration, media_id: str, key: str
    ) -> UploadSession:
        if declaration.checksum_sha256:
            raise invalid_field(
                "checksumSha256",
                f"checksumSha256 is supported for single uploads only (up to {MULTIPART_THRESHOLD} bytes)",
            )
        layout = layout_for(declaration.file_size)
        checksums = canonical_part_checksums(declaration, layout.total_parts)
        upload_id = self._storage.create_multipart(
            key, declaration.file_type, checksummed=bool(checksums)
        )
        try:
            media = self._record(
                user_id, declaration, media_id, key, self._policy.multipart_ttl_seconds,
                upload_id=upload_id, part_size=layout.part_size, total_parts=layout.total_parts,
                part_checksums=json.dumps(checksums) if checksums else None,
            )  # fmt: skip
        except BaseException:
            self._storage.abort_multipart(key, upload_id)  # no record: nothing else would
            raise
        urls, _ = self._sign_missing(media, stored=set(), after=0)
        return UploadSession(media=media, parts=urls)

    def _copy_of_twin(self, user_id: str, declaration: Declaration, media_id: str) -> Media | None:
        """A READY media sharing the objects of the caller's twin of this file,
        if it has one; within the caller's limits, like any upload."""
        twin = twin_of(user_id, declaration)
        if twin is None:
            return None
        with write_transaction(database):
            if not still_ready(twin.id):
                return None
            now = utcnow()
            row = {
                **self._row(user_id, declaration, media_id, twin.storage_key, 0, now),
                **copy_fields(twin),
                "status": Status.READY,
                "urls_expire_at": now,  # it has no upload URL
                "unattached_since": now,
            }
            copy = admit(row, self._policy, now)
        log.info("deduplicated", extra={"fields": {"media_id": media_id, "twin": twin.id}})
        return copy

    def _record(
        self,
        user_id: str,
        declaration: Declaration,
        media_id: str,
        key: str,
        ttl_seconds: int,
        **multipart: object,
    ) -> Media:
        """Insert the PENDING record, within the caller's limit of uploads in progress."""
        now = utcnow()
        return admit(
            {**self._row(user_id, declaration, media_id, key, ttl_seconds, now), **multipart},
            self._policy,
            now,
        )

    def _row(
        self,
        user_id: str,
        declaration: Declaration,
        media_id: str,
        key: str,
        ttl_seconds: int,
        now: datetime,
    ) -> dict[str, object]:
        """A new PENDING media's fields."""
        return {
            "id": media_id,
            "owner_id": user_id,
            "media_type": declaration.media_type,
            "status": Status.PENDING,
            "file_name": declaration.file_name,
            "file_type": declaration.file_type,
            "file_size": declaration.file_size,
            "checksum_sha256": declaration.checksum_sha256 or None,
            "storage_key": key,
            "visibility": declaration.visibility,
            "expires_at": now + timedelta(seconds=ttl_seconds),
            "urls_expire_at": now + timedelta(seconds=self._storage.url_lifetime_seconds),
            "created_at": now,
            "updated_at": now,
        }

    def _sign_missing(
        self, media: Media, stored: set[int], after: int
    ) -> tuple[list[PartUrl], int]:
        layout, upload_id = _layout(media), _upload_id(media)
        missing = [n for n in range(after + 1, layout.total_parts + 1) if n not in stored]
        batch = missing[:URL_BATCH]
        sign, checksums = self._storage.presign_part, _part_checksums(media)
        urls = [
            PartUrl(n, sign(media.storage_key, upload_id, n, layout.length_of(n), checksums.get(n)))
            for n in batch
        ]
        return urls, batch[-1] if len(missing) > len(batch) else 0

    def _pending_multipart(self, user_id: str, media_id: str, action: str) -> Media:
        media = library.owned(user_id, media_id)
        if not media.upload_id:
            raise FailedPrecondition(
                f"media {media_id} is a single upload, not a multipart one",
                reason=MediaReason.UPLOAD_IS_SINGLE,
                metadata={"mediaId": media_id},
            )
        _require_pending(media, action)
        return media

    def _assemble(self, media: Media, parts: list[tuple[int, str]]) -> None:
        try:
            checksums = list(_part_checksums(media).values())
            self._storage.complete_multipart(
                media.storage_key, _upload_id(media), sorted(parts), checksums
            )
        except MultipartRefused as refused:
            if refused.code == "NoSuchUpload":
                return  # a racing complete assembled it first; verification decides
            if refused.code == "EntityTooSmall":
                self._reject(
                    media,
                    Mismatch(
                        MediaReason.PART_TOO_SMALL,
                        "a part other than the last is smaller than storage's minimum part size",
                    ),
                )
            raise InvalidArgument(
                f"storage refused to assemble the parts: {refused.code}",
                reason=MediaReason.ASSEMBLY_REFUSED,
                metadata={"mediaId": media.id, "storageCode": refused.code},
            ) from refused

    def _verify(self, media: Media) -> Media:
        _require_pending(media, "completed")
        stored = self._storage.head(media.storage_key)
        if stored is None:
            raise FailedPrecondition(
                f"nothing has been uploaded for media {media.id} yet: PUT the file to its uploadUrl first",
                reason=MediaReason.NOTHING_UPLOADED,
                metadata={"mediaId": media.id},
            )
        mismatch = verification.problem_with(self._storage, media, stored)
        if mismatch:
            self._reject(media, mismatch)
        # Conditional on PENDING: of two racing completes exactly one wins and enqueues.
        if move(
            Media.id == media.id,
            Status.PENDING,
            Status.UPLOADED,
            etag=stored.etag,
            cdn_url=self._storage.public_url(media.storage_key),
            unattached_since=utcnow(),
        ):
            metrics.uploaded(media.media_type, stored.size)
            self._queue_processing(media.id)
        return _after_lost_race(media, "completed")

    def _reject(self, media: Media, mismatch: Mismatch) -> NoReturn:
        """The stored object is not what was declared: end the upload and remove it."""
        reason = mismatch.message
        if not move(Media.id == media.id, Status.PENDING, Status.REJECTED, failure_reason=reason):
            _after_lost_race(media, "completed")  # another call ended it first
        metrics.rejected(mismatch.reason)
        self._storage.remove(media.storage_key, media.upload_id)
        log.info("rejected upload", extra={"fields": {"media_id": media.id, "reason": reason}})
        raise InvalidArgument(
            f"upload rejected: {reason}", reason=mismatch.reason, metadata={"mediaId": media.id}
        )

    def _queue_processing(self, media_id: str) -> None:
        try:
            self._enqueue(media_id)
        except Exception:
            # The media is recorded UPLOADED first and enqueued_at stays empty, so a
            # sweep can queue it later: a broker outage delays processing, loses nothing.
            log.exception("could not queue processing", extra={"fields": {"media_id": media_id}})
            return
        Media.update(enqueued_at=utcnow()).where(Media.id == media_id).execute()
        log.info("queued processing", extra={"fields": {"media_id": media_id}})


def _after_lost_race(media: Media, action: str) -> Media:
    """The media as it is now: done (by this call or a racing one) is returned;
    ended by something else (abort, expiry) is refused."""
    current = Media.get_by_id(media.id)
    if current.status not in VERIFIED:
        _require_pending(current, action)
    return current


def _part_checksums(media: Media) -> dict[int, str]:
    """Each part's declared SHA-256 by part number; {} when none were declared."""
    return {n: c for n, c in enumerate(json.loads(media.part_checksums or "[]"), 1)}


def _upload_id(media: Media) -> str:
    assert media.upload_id, "only for multipart media"
    return str(media.upload_id)


def _layout(media: Media) -> Layout:
    assert media.part_size and media.total_parts, "only for multipart media"
    return Layout(int(media.part_size), int(media.total_parts), int(media.file_size))


def _require_pending(media: Media, action: str) -> None:
    if media.status != Status.PENDING:
        raise _not_pending(media, action)


def _not_pending(media: Media, action: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"media {media.id} is {media.status}; only a PENDING upload can be {action}",
        reason=MediaReason.UPLOAD_NOT_PENDING,
        metadata={"mediaId": media.id, "status": media.status},
    )


def storage_key(
    media_type: str, user_id: str, media_id: str, extension: str, *, private: bool = False
) -> str:
    """`{mediaType}/{userId}/{timestamp}-{uuid}.{ext}`, the user id made key-safe;
    under PRIVATE_PREFIX for a private media. No media type is named `private`,
    so a public key never falls under it."""
    safe_user = _UNSAFE_KEY_CHARS.sub("_", user_id)[:128]
    if not safe_user.strip("."):  # "." or ".." would be a path step in URLs
        safe_user = "_" * max(len(safe_user), 1)
    key = f"{media_type}/{safe_user}/{int(time.time() * 1000)}-{media_id}.{extension}"
    return PRIVATE_PREFIX + key if private else key
