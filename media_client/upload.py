"""One upload, the whole flow:

    check the file ──▶ session ──▶ PUT (one, or parts in parallel) ──▶ complete
                          ▲                      │
                          └─ resume: a saved multipart upload of the same
                             file sends only the parts storage lacks

A file up to MULTIPART_THRESHOLD is hashed and its SHA-256 declared, so
storage and the server check every byte, and goes up in one PUT with exactly
the headers the session names. A larger one goes up in the parts the server
laid out, streamed from disk, `concurrency` at a time; its media id is saved
(media_client.resume) until it completes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from genproto.media.v1 import media_pb2
from media_client.api import Api
from media_client.errors import ApiError, ServiceUnavailable
from media_client.files import LocalFile
from media_client.parts import PartUrls, plan_parts
from media_client.resume import ResumeStore
from media_client.transfer import Range, Stopped, StorageClient
from media_formats.media_types import MULTIPART_THRESHOLD
from media_formats.part_layout import layout_for

log = logging.getLogger("media_client")

Progress = Callable[[int, int], None]  # (bytes sent, total bytes)
_DONE = {media_pb2.UPLOADED, media_pb2.PROCESSING, media_pb2.READY, media_pb2.FAILED}
HASH_CHUNK = 1024 * 1024


@dataclass
class Tally:
    """Bytes sent per part, summed for the progress callback; thread-safe."""

    total: int
    report: Progress | None
    _sent: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, part: int, sent: int) -> None:
        with self._lock:  # one report at a time, in order
            self._sent[part] = sent
            if self.report:
                self.report(sum(self._sent.values()), self.total)


class Upload:
    def __init__(
        self,
        api: Api,
        storage: StorageClient,
        store: ResumeStore,
        file: LocalFile,
        concurrency: int,
        progress: Progress | None,
        *,
        private: bool = False,
    ) -> None:
        self.api, self.storage, self.store, self.file = api, storage, store, file
        self.private = private
        self.concurrency = max(1, concurrency)
        self.tally = Tally(file.size, progress)

    def run(self) -> media_pb2.CompleteUploadResponse:
        if self.file.size <= MULTIPART_THRESHOLD:
            return self._single()
        saved = self.store.find(self.file, private=self.private)
        if saved:
            resumed = self._resume(saved)
            if resumed is not None:
                return resumed
        return self._multipart()

    def _single(self) -> media_pb2.CompleteUploadResponse:
        session = self._create_session(checksum=self._sha256())
        if session.deduplicated:  # the server has this very file READY already: no PUT
            self.tally.update(1, self.file.size)
        else:
            self._put_single(session)
        return self.api.call(
            self.api.media.CompleteUpload,
            media_pb2.CompleteUploadRequest(media_id=session.media_id),
        )

    def _put_single(self, session: media_pb2.CreateUploadSessionResponse) -> None:
        source, size = self.file.source, self.file.size
        self.storage.put(
            lambda: session.upload_url,
            source,
            Range(0, size),
            session.upload_headers,
            lambda sent: self.tally.update(1, sent),
            threading.Event(),
        )

    def _multipart(self) -> media_pb2.CompleteUploadResponse:
        layout = layout_for(self.file.size)
        checksums = self._part_checksums(layout.part_size, layout.total_parts)
        session = self._create_session(checksum="", part_checksums=checksums)
        self.store.save(self.file, session.media_id, private=self.private)
        urls = {part.part_number: part.upload_url for part in session.parts}
        return self._send_parts(session.media_id, session, {}, urls, checksums)

    def _resume(self, media_id: str) -> media_pb2.CompleteUploadResponse | None:
        """Carry on the saved upload `media_id`; None if it cannot be resumed."""
        try:
            listing = self.api.call(
                self.api.media.ListUploadParts, media_pb2.ListUploadPartsRequest(media_id=media_id)
            )
        except ServiceUnavailable:
            raise
        except ApiError as error:
            return self._ended(media_id, error)
        stored = {part.part_number: part.etag for part in listing.stored_parts}
        urls = {part.part_number: part.upload_url for part in listing.missing_parts}
        log.info(
            "resuming upload %s: %d of %d parts already stored",
            media_id,
            len(stored),
            listing.total_parts,
        )
        checksums = self._part_checksums(listing.part_size, listing.total_parts)
        return self._send_parts(media_id, listing, stored, urls, checksums)

    def _ended(self, media_id: str, error: ApiError) -> media_pb2.CompleteUploadResponse | None:
        """A saved upload the server will not list parts of: finished already
        (the run stopped after completing), or over (expired, aborted)."""
        try:
            media = self.api.call(
                self.api.media.GetMedia, media_pb2.GetMediaRequest(media_id=media_id)
            )
        except ServiceUnavailable:
            raise
        except ApiError:
            media = None
        if media is not None and media.status in _DONE:
            self.store.forget(self.file, private=self.private)
            self.tally.update(0, self.file.size)
            return media_pb2.CompleteUploadResponse(
                media_id=media.media_id, cdn_url=media.cdn_url, status=media.status
            )
        log.warning("the saved upload cannot be resumed (%s): starting afresh", error.message)
        self.store.forget(self.file, private=self.private)
        return None

    def _send_parts(
        self,
        media_id: str,
        layout: media_pb2.CreateUploadSessionResponse | media_pb2.ListUploadPartsResponse,
        stored: Mapping[int, str],
        urls: dict[int, str],
        checksums: list[str],
    ) -> media_pb2.CompleteUploadResponse:
        plan = plan_parts(self.file.size, layout.part_size, layout.total_parts)
        for number in stored:
            self.tally.update(number, plan[number - 1].length)
        signer = PartUrls(self.api, media_id, urls)
        missing = [(number, span) for number, span in enumerate(plan, 1) if number not in stored]
        etags = dict(stored)
        etags.update(self._put_all(signer, missing, checksums))
        try:
            done = self.api.call(
                self.api.media.CompleteMultipartUpload,
                media_pb2.CompleteMultipartUploadRequest(
                    media_id=media_id,
                    upload_id=layout.upload_id,
                    parts=[
                        media_pb2.CompletedPart(part_number=number, etag=etags[number])
                        for number in sorted(etags)
                    ],
                ),
            )
        except ServiceUnavailable:
            raise  # the saved upload stays: the same command carries on
        except ApiError:
            self.store.forget(self.file, private=self.private)
            raise
        self.store.forget(self.file, private=self.private)
        return done

    def _put_all(
        self, signer: PartUrls, missing: list[tuple[int, Range]], checksums: list[str]
    ) -> dict[int, str]:
        """PUT each missing part, `concurrency` at a time; the first failure
        stops the others and is raised, as is Ctrl-C."""
        stop = threading.Event()

        def put(number: int, span: Range) -> tuple[int, str]:
            etag = self.storage.put(
                lambda: signer.url_for(number),
                self.file.source,
                span,
                {"x-amz-checksum-sha256": checksums[number - 1]},
                lambda sent: self.tally.update(number, sent),
                stop,
                renew=lambda: signer.expire(number),
            )
            return number, etag

        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="part")
        futures = [pool.submit(put, number, span) for number, span in missing]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # Parts still in flight (after a failure, or Ctrl-C) stop at their
            # next chunk; nobody waits for them.
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
        failures = [
            error
            for future in futures
            if future.done()
            and not future.cancelled()
            and (error := future.exception()) is not None
            and not isinstance(error, Stopped)
        ]
        if failures:
            raise failures[0]
        return dict(future.result() for future in futures)

    def _create_session(
        self, checksum: str, part_checksums: list[str] | None = None
    ) -> media_pb2.CreateUploadSessionResponse:
        return self.api.call(
            self.api.media.CreateUploadSession,
            media_pb2.CreateUploadSessionRequest(
                file_name=self.file.source.name,
                file_type=self.file.file_type,
                file_size=self.file.size,
                media_type=self.file.media_type,
                checksum_sha256=checksum,
                visibility=media_pb2.PRIVATE if self.private else media_pb2.PUBLIC,
                part_checksums_sha256=part_checksums or [],
            ),
        )

    def _sha256(self, span: Range | None = None) -> str:
        """The base64 SHA-256 of the file, or of one span of it."""
        span = span or Range(0, self.file.size)
        digest = hashlib.sha256()
        for offset in range(span.start, span.start + span.length, HASH_CHUNK):
            length = min(HASH_CHUNK, span.start + span.length - offset)
            digest.update(self.file.source.read_at(offset, length))
        return base64.b64encode(digest.digest()).decode()

    def _part_checksums(self, part_size: int, total_parts: int) -> list[str]:
        """Each part's SHA-256: declared with the session, sent with its PUT, so
        storage refuses a part damaged on its way and complete checks them all."""
        return [self._sha256(span) for span in plan_parts(self.file.size, part_size, total_parts)]
