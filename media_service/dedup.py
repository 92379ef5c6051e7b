"""Content-hash dedup: a single upload that declares the SHA-256 of a file its
owner already has READY (same media type, same visibility) becomes a new
media at once, sharing the stored original and its outputs: no PUT, no
processing.

Shared objects live as long as any media refers to them: a delete, or the
janitor's cleaning of an ended media, removes the objects only when no other
live media has the same storage key. A twin being deleted while it is copied
cannot leave the copy dangling: the copy locks the twin's row and checks it
is still READY, and the delete marks its media under the same lock before it
looks for sharers.
"""

from typing import Any

from media_service.models import Media, database
from media_service.status import ENDED, Status
from media_service.validation import Declaration
from mesh.db import locked

# What a copy takes from its twin: the stored original and what processing made.
SHARED_FIELDS = (
    "storage_key",
    "etag",
    "cdn_url",
    "width",
    "height",
    "duration_ms",
    "codec",
    "poster_url",
    "blurhash",
    "variants",
    "processing_progress",
)


def twin_of(user_id: str, declaration: Declaration) -> Media | None:
    """The caller's READY media with the declared content (checksum, size and
    type) and visibility, if there is one."""
    if not declaration.checksum_sha256:
        return None
    twin: Media | None = (
        Media.select()
        .where(
            (Media.owner_id == user_id)
            & (Media.checksum_sha256 == declaration.checksum_sha256)
            & (Media.file_size == declaration.file_size)
            & (Media.file_type == declaration.file_type)
            & (Media.media_type == declaration.media_type)
            & (Media.visibility == declaration.visibility)
            & (Media.status == Status.READY)
        )
        .order_by(Media.created_at)
        .first()
    )
    return twin


def copy_fields(twin: Media) -> dict[str, Any]:
    return {name: getattr(twin, name) for name in SHARED_FIELDS}


def still_ready(twin_id: str) -> bool:
    """Inside write_transaction: lock the twin's row; whether it is still READY."""
    query = Media.select(Media.status).where(Media.id == twin_id)
    row = locked(query, database).first()
    return row is not None and row.status == Status.READY


def shared_elsewhere(storage_key: str, media_id: str) -> bool:
    """Whether a live media other than `media_id` uses the objects at `storage_key`."""
    return (
        Media.select(Media.id)
        .where(
            (Media.storage_key == storage_key) & (Media.id != media_id) & Media.status.not_in(ENDED)
        )
        .exists()
    )
