"""MediaClient: the API for scripts and services, uploads included.

    with MediaClient() as client:                  # MEDIA_GATEWAY, MEDIA_TOKEN
        media = client.upload("clip.mp4", progress=print)
        client.wait_ready(media.media_id)
        client.create_post("Look!", [media.media_id])

Every method raises a MediaClientError subclass (media_client.errors) on failure.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import httpx

from genproto.media.v1 import media_pb2
from genproto.post.v1 import post_pb2
from media_client.api import DEFAULT_TIMEOUT_SECONDS, Api, channel_for
from media_client.errors import MissingToken, ProcessingFailed
from media_client.files import Source, inspect
from media_client.resume import ResumeStore
from media_client.transfer import StorageClient
from media_client.upload import Progress, Upload

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_CONCURRENCY = 4
_FINAL = {media_pb2.READY, media_pb2.FAILED}
# Storage PUTs: connect fast or retry; a slow part may take minutes, so no
# limit on the whole PUT, only on each read and write.
_HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class MediaClient:
    def __init__(
        self,
        target: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        resume_store: ResumeStore | None = None,
    ) -> None:
        """`target`: the gateway's URL (default MEDIA_GATEWAY, else
        http://127.0.0.1:8080) or a service's host:port; `token`: the user's JWT
        (default MEDIA_TOKEN)."""
        token = token or os.environ.get("MEDIA_TOKEN", "")
        if not token:
            raise MissingToken("no token: set MEDIA_TOKEN (or pass token=)")
        self.target = target or os.environ.get("MEDIA_GATEWAY") or DEFAULT_GATEWAY
        self._api = Api(channel_for(self.target), token, timeout)
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
    ) -> media_pb2.Media:
        """Upload a path or a seekable binary file object, checked locally
        first; resumed if an earlier run of the same path was cut short.
        `media_type` defaults to post-image or post-video by the content;
        `progress(sent, total)` is called as bytes go out. Returns the media
        as it is once completed (UPLOADED or later)."""
        source = Source(file)
        try:
            local = inspect(source, media_type)
            upload = Upload(
                self._api, self._storage, self.resume_store, local, concurrency, progress
            )
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

    def abort(self, media_id: str) -> media_pb2.Media:
        return self._api.call(
            self._api.media.AbortUpload, media_pb2.AbortUploadRequest(media_id=media_id)
        )

    def wait_ready(self, media_id: str, timeout: float = 300.0) -> media_pb2.Media:
        """The media once READY; ProcessingFailed if it ends FAILED,
        TimeoutError if neither happens within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.3
        while True:
            media = self.get(media_id)
            if media.status == media_pb2.FAILED:
                raise ProcessingFailed(media)
            if media.status in _FINAL:
                return media
            left = deadline - time.monotonic()
            if left <= 0:
                status = media_pb2.MediaStatus.Name(media.status)
                raise TimeoutError(f"{media_id} is still {status} after {timeout:g} s")
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
