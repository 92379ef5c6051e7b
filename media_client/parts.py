"""The parts of a multipart upload: which bytes are which part, and their
presigned URLs, fetched from ListUploadParts a batch at a time (the server
signs at most 100 at once) and again for a part whose URL storage refused as
expired."""

from __future__ import annotations

import threading

from genproto.media.v1 import media_pb2
from media_client.api import Api
from media_client.errors import MediaClientError
from media_client.transfer import Range


def plan_parts(file_size: int, part_size: int, total_parts: int) -> list[Range]:
    """The parts the server laid out, part i+1 at index i: `part_size` bytes
    each, the last one the remainder."""
    if part_size <= 0 or total_parts <= 0 or (total_parts - 1) * part_size >= file_size:
        raise MediaClientError(
            f"the server's layout ({total_parts} parts of {part_size} bytes) "
            f"does not fit the file's {file_size} bytes"
        )
    if total_parts * part_size < file_size:
        raise MediaClientError(
            f"the server's layout ({total_parts} parts of {part_size} bytes) "
            f"does not cover the file's {file_size} bytes"
        )
    return [
        Range(start, min(part_size, file_size - start))
        for start in range(0, total_parts * part_size, part_size)
    ]


class PartUrls:
    """Part URLs by number; a missing one is fetched with the batch after it.
    One request at a time, however many parts wait for it."""

    def __init__(self, api: Api, media_id: str, known: dict[int, str]) -> None:
        self._api = api
        self._media_id = media_id
        self._urls = dict(known)
        self._lock = threading.Lock()

    def url_for(self, number: int) -> str:
        with self._lock:
            if number not in self._urls:
                self._fetch_from(number)
            url = self._urls.get(number)
        if url is None:
            raise MediaClientError(f"the server gave no URL for part {number}")
        return url

    def expire(self, number: int) -> None:
        with self._lock:
            self._urls.pop(number, None)

    def _fetch_from(self, number: int) -> None:
        listing = self._api.call(
            self._api.media.ListUploadParts,
            media_pb2.ListUploadPartsRequest(
                media_id=self._media_id, part_number_marker=number - 1
            ),
        )
        for part in listing.missing_parts:
            self._urls[part.part_number] = part.upload_url
