"""One job: turn a verified original into its outputs and record them.

    UPLOADED ──claim──▶ PROCESSING ──outputs stored──▶ READY
                             └──── file cannot be decoded ──▶ FAILED (failureReason)

The job is idempotent: started over after a worker died, it claims the media
again and writes the same outputs under the same keys.
"""

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from peewee import InterfaceError, OperationalError

from media_formats.media_types import MEDIA_TYPES
from media_service import metrics
from media_service.config import ProcessingConfig
from media_service.models import Media
from media_service.processing.ffmpeg import VideoLimits
from media_service.processing.images import Undecodable, Variant, process_image
from media_service.processing.videos import process_video
from media_service.status import Status, move
from media_service.storage import OriginalChanged, Storage, derived_prefix
from mesh.errors import Unavailable
from mesh.faults import Checkpoint

log = logging.getLogger(__name__)

TRANSIENT = (Unavailable, OperationalError, InterfaceError)
# failureReason is shown to users: what went wrong in their words, no paths,
# no exception names (the log has those).
INTERNAL_ERROR_REASON = "the file could not be processed because of an error on our side"
ORIGINAL_CHANGED_REASON = "the file in storage changed after it was verified"
PROGRESS_SECONDS = 1.0


class Processor:
    """Turns one verified original into its outputs and records them."""

    def __init__(
        self, storage: Storage, config: ProcessingConfig, checkpoint: Checkpoint = lambda _: None
    ) -> None:
        """`checkpoint` is called with "claimed" once a job has taken its media
        (mesh.faults: where a test makes the worker die)."""
        self._storage = storage
        self._config = config
        self._checkpoint = checkpoint

    def process(self, media_id: str) -> None:
        media = _claim(media_id)
        if media is None:
            log.info("nothing to process", extra={"fields": {"media_id": media_id}})
            return
        kind = MEDIA_TYPES[media.media_type].kind
        log.info("processing", extra={"fields": {"media_id": media_id, "kind": kind}})
        self._checkpoint("claimed")
        started = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="media-") as scratch:
                fields = self._outputs_or_failure(media, kind, Path(scratch))
        except TRANSIENT:
            metrics.JOBS.labels(kind, "retried").inc()
            raise
        elapsed = time.perf_counter() - started
        metrics.JOB_SECONDS.labels(kind).observe(elapsed)
        if fields is None:
            metrics.JOBS.labels(kind, Status.FAILED).inc()
            return
        if not _finish(media, Status.READY, **fields):
            # Ended while we worked (deleted, say): what we wrote would be orphaned.
            self._storage.delete_derivatives(media.storage_key)
            return
        metrics.JOBS.labels(kind, Status.READY).inc()
        log.info(
            "processed",
            extra={"fields": {"media_id": media_id, "kind": kind, "ms": round(elapsed * 1000)}},
        )

    def _outputs_or_failure(self, media: Media, kind: str, scratch: Path) -> dict[str, Any] | None:
        """The outputs, or None when the media ended FAILED instead."""
        try:
            return self._outputs(media, kind, scratch)
        except Undecodable as error:
            self._fail(media, str(error), error.detail)
        except OriginalChanged as error:
            self._fail(media, ORIGINAL_CHANGED_REASON, str(error))
        except TRANSIENT:
            raise  # retried with backoff
        except Exception:
            # A fault of ours, not of the file: the detail is for operators only.
            log.exception("processing error", extra={"fields": {"media_id": media.id}})
            self._fail(media, INTERNAL_ERROR_REASON)
        return None

    def _fail(self, media: Media, reason: str, detail: str = "") -> None:
        _finish(media, Status.FAILED, failure_reason=reason)
        log.info(
            "processing failed",
            extra={"fields": {"media_id": media.id, "reason": reason, "detail": detail}},
        )

    def _outputs(self, media: Media, kind: str, scratch: Path) -> dict[str, Any]:
        """Make the outputs from the original (pinned to its ETag) and store them."""
        original = scratch / "original"
        self._storage.download(media.storage_key, media.etag or "", original)
        if kind == "image":
            image = process_image(original, scratch, media.file_type, self._config.image_max_pixels)
            fields: dict[str, Any] = {
                "width": image.width,
                "height": image.height,
                "blurhash": image.blurhash,
            }
            variants = image.variants
        else:
            limits = VideoLimits(
                max_pixels=self._config.video_max_pixels,
                timeout_seconds=self._config.ffmpeg_timeout_seconds,
            )
            progress = ProgressRecord(media.id)
            video = process_video(original, scratch, media.file_type, limits, progress)
            fields = {
                "width": video.width,
                "height": video.height,
                "duration_ms": video.duration_ms,
                "codec": video.codec,
                "poster_url": self._storage.public_url(_output_key(media, video.poster)),
            }
            variants = [video.poster, video.video]
        stored = [self._store(media, variant) for variant in variants]
        return {**fields, "variants": json.dumps(stored), "processing_progress": 100}

    def _store(self, media: Media, variant: Variant) -> dict[str, Any]:
        key = _output_key(media, variant)
        self._storage.upload_file(key, variant.path, variant.content_type)
        stored = {
            "name": variant.name,
            "width": variant.width,
            "height": variant.height,
            "content_type": variant.content_type,
            "url": self._storage.public_url(key),
            # What a private media's URL is signed for on each read (media_service.links).
            "key": key,
        }
        if variant.duration_ms is not None:
            stored["duration_ms"] = variant.duration_ms
        return stored


def _output_key(media: Media, variant: Variant) -> str:
    """Beside the original: `{key without extension}/{the variant's file name}`."""
    return f"{derived_prefix(media.storage_key)}{variant.path.name}"


class ProgressRecord:
    """A job's progress, recorded on its media: each write is an event for the
    media's watchers, so at most one every PROGRESS_SECONDS, and only when the
    whole percent moved. 100 comes with READY."""

    def __init__(self, media_id: str) -> None:
        self._media_id = media_id
        self._percent = 0
        self._written_at = 0.0

    def __call__(self, done: float) -> None:
        percent = min(99, int(done * 100))
        now = time.monotonic()
        if percent <= self._percent or now - self._written_at < PROGRESS_SECONDS:
            return
        self._percent, self._written_at = percent, now
        try:
            Media.update(processing_progress=percent).where(
                (Media.id == self._media_id) & (Media.status == Status.PROCESSING)
            ).execute()
        except TRANSIENT as error:  # only a figure shown meanwhile: the job goes on
            log.warning("progress not recorded: %s", error)


def _claim(media_id: str) -> Media | None:
    """UPLOADED (or PROCESSING, when a job is redelivered) → PROCESSING."""
    sources = (Status.UPLOADED, Status.PROCESSING)
    claimed = move(Media.id == media_id, sources, Status.PROCESSING, processing_progress=0)
    return Media.get_by_id(media_id) if claimed else None


def _finish(media: Media, status: Status, **fields: Any) -> bool:
    """PROCESSING → `status`; False if the media is no longer PROCESSING."""
    return move(Media.id == media.id, Status.PROCESSING, status, **fields) == 1
