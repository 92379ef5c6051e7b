"""Checks of a stored object against what the client declared, at complete.

Storage may or may not have enforced the presigned bindings (moto enforces
none of them), so every one is checked here: size, Content-Type, the leading
bytes (a ranged read, pinned to the ETag), and the SHA-256 when one was
declared (single uploads only, at most 5 MiB, streamed).
"""

from dataclasses import dataclass

from media_formats import signatures
from media_service.models import Media
from media_service.reasons import MediaReason
from media_service.storage import OriginalChanged, Storage, StoredObject


@dataclass(frozen=True)
class Mismatch:
    """Why an upload is rejected: `reason` names the check (the ErrorInfo
    reason of the refusal, and the metrics label), `message` says what differed."""

    reason: MediaReason
    message: str


def problem_with(storage: Storage, media: Media, stored: StoredObject) -> Mismatch | None:
    """Why the stored object is not what `media` declared, or None if it is."""
    if stored.size != media.file_size:
        return Mismatch(
            MediaReason.SIZE_MISMATCH,
            f"size mismatch: declared {media.file_size} bytes, stored {stored.size}",
        )
    if stored.content_type != media.file_type:
        stored_type = stored.content_type or "none"
        return Mismatch(
            MediaReason.TYPE_MISMATCH,
            f"type mismatch: declared {media.file_type}, stored {stored_type}",
        )
    try:
        head = storage.read_head(
            media.storage_key, stored.etag, min(signatures.HEAD_BYTES, stored.size)
        )
        content = signatures.mismatch(media.file_type, head, stored.size)
        if content is not None:
            return Mismatch(MediaReason.CONTENT_MISMATCH, content)
        if media.checksum_sha256:
            checksum = _checksum_problem(storage, media, stored)
            return Mismatch(MediaReason.CHECKSUM_MISMATCH, checksum) if checksum else None
    except OriginalChanged:
        return Mismatch(
            MediaReason.OBJECT_CHANGED, "the object changed while it was being verified"
        )
    return None


def _checksum_problem(storage: Storage, media: Media, stored: StoredObject) -> str | None:
    # A checksum stored with the object that differs settles it without a read; an
    # equal one proves nothing where storage does not verify it (moto), so hash.
    if stored.checksum_sha256 and stored.checksum_sha256 != media.checksum_sha256:
        return (
            f"checksum mismatch: declared {media.checksum_sha256}, stored {stored.checksum_sha256}"
        )
    actual = storage.sha256_base64(media.storage_key, stored.etag)
    if actual != media.checksum_sha256:
        return f"checksum mismatch: declared {media.checksum_sha256}, stored bytes hash to {actual}"
    return None
