"""MediaClient: the API for scripts and services, uploads included.

    with MediaClient() as client:                  # MEDIA_GATEWAY, MEDIA_TOKEN
        media = client.upload("clip.mp4", progress=print)
        client.wait_ready(media.media_id)
        client.create_post("Look!", [media.media_id])

Every method raises a MediaClientError subclass (media_client.errors) on failure.

Waiting follows the media over WatchMedia, a server stream of its state
changes; where no stream can be had (an older server answering UNIMPLEMENTED,
too many streams open, an outage) it polls GetMedia instead:

    open WatchMedia ──▶ state changes ──▶ READY / FAILED
         │                   │ broken (UNAVAILABLE): reopened, WATCH_REOPENS times at most
         └── refused ────────┴──▶ GetMedia every 0.3 s .. 3 s until READY / FAILED
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from typing import BinaryIO

import grpc
import httpx

from genproto.media.v1 import media_pb2
from genproto.post.v1 import post_pb2
from media_client.api import DEFAULT_TIMEOUT_SECONDS, Api, channel_for
from media_client.errors import ApiError, MissingToken, ProcessingFailed, ServiceUnavailable
from media_client.files import Source, inspect
from media_client.resume import ResumeStore
from media_client.transfer import StorageClient, backoff_delay
from media_client.upload import Progress, Upload

# What grpc.intercept_channel takes.
ClientInterceptor = (
    grpc.UnaryUnaryClientInterceptor
    | grpc.UnaryStreamClientInterceptor
    | grpc.StreamUnaryClientInterceptor
    | grpc.StreamStreamClientInterceptor
)

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_CONCURRENCY = 4
# A watch broken mid-way (UNAVAILABLE) is reopened this many times at most.
WATCH_REOPENS = 2
# Final states (the server's): WatchMedia stops following a media there.
_FINAL = {
    media_pb2.READY,
    media_pb2.FAILED,
    media_pb2.EXPIRED,
    media_pb2.ABORTED,
    media_pb2.REJECTED,
    media_pb2.DELETED,
}
# WatchMedia could not be had: an older server, the user's streams all taken,
# an outage (past the reopens), or no first event before the deadline.
_NO_STREAM = {
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
# Storage PUTs: connect fast or retry; a slow part may take minutes, so no
# limit on the whole PUT, only on each read and write.
_HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

log = logging.getLogger("media_client")


class MediaClient:
    def __init__(
        self,
        target: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        resume_store: ResumeStore | None = None,
        interceptors: Sequence[ClientInterceptor] = (),
    ) -> None:
        """`target`: the gateway's URL (default MEDIA_GATEWAY, else
        http://127.0.0.1:8080) or a service's host:port; `token`: the user's JWT
        (default MEDIA_TOKEN); `interceptors`: grpc client interceptors every
        call goes through, the first outermost (tracing, metrics)."""
        token = token or os.environ.get("MEDIA_TOKEN", "")
        if not token:
            raise MissingToken("no token: set MEDIA_TOKEN (or pass token=)")
        self.target = target or os.environ.get("MEDIA_GATEWAY") or DEFAULT_GATEWAY
        channel = grpc.intercept_channel(channel_for(self.target), *interceptors)
        self._api = Api(channel, token, timeout)
        self._http = httpx.Client(timeout=_HTTP_TIMEOUT, limits=httpx.Limits(max_connections=64))
        self._storage = StorageClient(self._http)
        self.resume_store = resume_store or ResumeStore()

    def __enter__(self) -> MediaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self._api.channel.close()

    def upload(
        self,
        file: str | os.PathLike[str] | BinaryIO,
        media_type: str | None = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: Progress | None = None,
        visibility: str = "public",
    ) -> media_pb2.Media:
        """Upload a path or a seekable binary file object, checked locally
        first; resumed if an earlier run of the same path was cut short.
        `media_type` defaults to post-image or post-video by the content;
        `progress(sent, total)` is called as bytes go out; `visibility`
        "private" keeps the files off the CDN, readable only through
        short-lived URLs that its owner and the readers of its post get.
        Returns the media as it is once completed (UPLOADED or later)."""
        private = _is_private(visibility)
        source = Source(file)
        try:
            local = inspect(source, media_type)
            upload = Upload(
                self._api, self._storage, self.resume_store, local, concurrency, progress,
                private=private,
            )  # fmt: skip
            done = upload.run()
        finally:
            source.close()
        return self.get(done.media_id)

    def get(self, media_id: str) -> media_pb2.Media:
        return self._api.call(
            self._api.media.GetMedia, media_pb2.GetMediaRequest(media_id=media_id)
        )

    def list(self, page_size: int = 50) -> Iterator[media_pb2.Media]:
        """The caller's media, newest first, page after page."""
        token = ""
        while True:
            page = self._api.call(
                self._api.media.ListMedia,
                media_pb2.ListMediaRequest(page_size=page_size, page_token=token),
            )
            yield from page.media
            token = page.next_page_token
            if not token:
                return

    def delete(self, media_id: str) -> media_pb2.Media:
        return self._api.call(
            self._api.media.DeleteMedia, media_pb2.DeleteMediaRequest(media_id=media_id)
        )

    def update(
        self,
        media_id: str,
        description: str | None = None,
        focus: tuple[float, float] | None = None,
    ) -> media_pb2.Media:
        """Set the alt text (up to 1,500 characters; "" clears it) and/or the
        focal point `(x, y)`, each in -1..1, of one of the caller's media;
        what is left None stays as it is. Returns the media as updated."""
        request = media_pb2.UpdateMediaRequest(media_id=media_id, description=description)
        if focus is not None:
            x, y = focus
            request.focus.CopyFrom(media_pb2.Focus(x=x, y=y))
        return self._api.call(self._api.media.UpdateMedia, request)

    def abort(self, media_id: str) -> media_pb2.Media:
        return self._api.call(
            self._api.media.AbortUpload, media_pb2.AbortUploadRequest(media_id=media_id)
        )

    def watch(
        self, media_ids: Sequence[str], timeout: float | None = None
    ) -> Generator[media_pb2.Media, None, None]:
        """Each of `media_ids` (1 to 50 of the caller's media) as it is now,
        then again at each change of its state, in the order of the changes;
        the generator ends once every one is final (READY, FAILED or ended).
        Past `timeout` seconds it raises ServiceUnavailable (DEADLINE_EXCEEDED),
        as any call past its deadline. A stream broken mid-way is reopened, up
        to WATCH_REOPENS times, without repeating a state already yielded.
        Closing the generator cancels the call."""
        if isinstance(media_ids, str):
            raise TypeError("media_ids is a sequence of ids, not one id")
        deadline = None if timeout is None else time.monotonic() + timeout
        request = media_pb2.WatchMediaRequest(media_ids=media_ids)
        seen: dict[str, media_pb2.Media] = {}
        reopens = 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                with closing(self._api.stream(self._api.media.WatchMedia, request, left)) as events:
                    for event in events:
                        if not event.HasField("media"):  # a keep-alive
                            continue
                        media = event.media
                        if seen.get(media.media_id) != media:  # a reopened stream repeats
                            seen[media.media_id] = media
                            yield media
                return
            except ServiceUnavailable as error:
                # Reopened only once it had been open: a stream refused at
                # once is the caller's to handle (wait_ready polls instead).
                reopens += 1
                if error.code != grpc.StatusCode.UNAVAILABLE or not seen or reopens > WATCH_REOPENS:
                    raise
            pause = backoff_delay(reopens)
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)
            request = media_pb2.WatchMediaRequest(media_ids=_following(media_ids, seen))
            if not request.media_ids:
                return

    def wait_ready(self, media_id: str, timeout: float = 300.0) -> media_pb2.Media:
        """The media once READY; ProcessingFailed if it ends FAILED,
        TimeoutError if neither happens within `timeout` seconds. It follows
        the media with watch(), and polls GetMedia where no stream can be had."""
        deadline = time.monotonic() + timeout
        media = None
        try:
            with closing(self.watch([media_id], timeout)) as changes:
                for media in changes:
                    if media.status in (media_pb2.READY, media_pb2.FAILED):
                        return _processed(media)
        except ApiError as error:
            if error.code == grpc.StatusCode.DEADLINE_EXCEEDED and media is not None:
                raise _still(media, timeout) from None
            if error.code not in _NO_STREAM:
                raise
            log.debug("WatchMedia answered %s: polling %s", error.code.name, media_id)
        # Here too when the stream ended on another final state (EXPIRED,
        # DELETED...): GetMedia answers as it always has (NOT_FOUND for a
        # deleted media; an ended one is polled until the deadline).
        return self._poll_ready(media_id, timeout, deadline)

    def _poll_ready(self, media_id: str, timeout: float, deadline: float) -> media_pb2.Media:
        delay = 0.3
        while True:
            media = self.get(media_id)
            if media.status in (media_pb2.READY, media_pb2.FAILED):
                return _processed(media)
            left = deadline - time.monotonic()
            if left <= 0:
                raise _still(media, timeout)
            time.sleep(min(delay, left))
            delay = min(delay * 1.5, 3.0)

    def create_post(
        self, content: str, media_ids: Sequence[str], idempotency_key: str | None = None
    ) -> post_pb2.Post:
        """A post with the media attached, all or nothing. The idempotency key
        (a fresh one by default) makes a retried call return the same post."""
        request = post_pb2.CreatePostRequest(
            content=content,
            media_ids=media_ids,
            idempotency_key=idempotency_key or uuid.uuid4().hex,
        )
        return self._api.call(self._api.posts.CreatePost, request)


def _is_private(visibility: str) -> bool:
    if visibility.upper() not in ("PUBLIC", "PRIVATE"):
        raise ValueError(f"visibility is 'public' or 'private', not {visibility!r}")
    return visibility.upper() == "PRIVATE"


def _following(media_ids: Sequence[str], seen: dict[str, media_pb2.Media]) -> list[str]:
    """The ids still worth watching: those not yet seen in a final state."""
    return [
        media_id
        for media_id in media_ids
        if media_id not in seen or seen[media_id].status not in _FINAL
    ]


def _processed(media: media_pb2.Media) -> media_pb2.Media:
    """A READY media as it is; ProcessingFailed for a FAILED one."""
    if media.status == media_pb2.FAILED:
        raise ProcessingFailed(media)
    return media


def _still(media: media_pb2.Media, timeout: float) -> TimeoutError:
    status = media_pb2.MediaStatus.Name(media.status)
    return TimeoutError(f"{media.media_id} is still {status} after {timeout:g} s")
