"""PUTs straight to storage: bytes streamed from the file a chunk at a time,
over one shared httpx connection pool, each PUT retried with backoff.

A PUT is tried up to MAX_ATTEMPTS times in all (the first try and three
retries) when storage's answer may be different next time: no answer, a 5xx,
408, 429, or 403, which is how storage refuses an expired URL (the caller
may then sign a fresh one). The waits grow exponentially and carry jitter so
that parts failing together do not retry in lockstep.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import httpx

from media_client.errors import StorageError, StorageUnavailable
from media_client.files import Source

MAX_ATTEMPTS = 4
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 8.0
CHUNK_BYTES = 1024 * 1024
# Storage answers If-None-Match: * with 412 when the object exists: on a retry
# of a single PUT, that is the first attempt's bytes having arrived after all.
ALREADY_STORED = 412


class Stopped(Exception):
    """The upload was told to stop (another part failed, or Ctrl-C)."""


@dataclass(frozen=True)
class Range:
    """Bytes [start, start + length) of the source."""

    start: int
    length: int


def backoff_delay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based)."""
    exponential = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2.0 ** (attempt - 1))
    return exponential * (0.5 + rand() / 2)


def is_retryable(status: int) -> bool:
    """Whether a PUT that ended with HTTP `status` (0: no answer) may succeed next time."""
    return status in (0, 403, 408, 429) or status >= 500


class StorageClient:
    """PUTs over one connection pool, shared by every part of every upload."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def put(
        self,
        url: Callable[[], str],
        source: Source,
        span: Range,
        headers: Mapping[str, str],
        progress: Callable[[int], None],
        stop: threading.Event,
        renew: Callable[[], None] | None = None,
    ) -> str:
        """PUT `span` of `source` to `url()` (asked again on each attempt), with
        retries; the ETag storage gave it. `progress(n)` is told the bytes of
        this span sent so far (0 again when an attempt fails). `renew` is
        called after a 403 so that `url()` signs anew; without it a 403 is final.
        Setting `stop` ends the PUT with Stopped at its next chunk or wait."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status, answer = self._attempt(url(), source, span, headers, progress, stop)
            if 200 <= status < 300:
                return answer
            if status == ALREADY_STORED and attempt > 1 and "If-None-Match" in headers:
                return ""
            progress(0)
            final = not is_retryable(status) or (status == 403 and renew is None)
            if final or attempt == MAX_ATTEMPTS:
                raise _failure(status, answer, attempt)
            if status == 403 and renew is not None:
                renew()
            if stop.wait(backoff_delay(attempt)):
                raise Stopped()
        raise AssertionError("unreachable")

    def _attempt(
        self,
        url: str,
        source: Source,
        span: Range,
        headers: Mapping[str, str],
        progress: Callable[[int], None],
        stop: threading.Event,
    ) -> tuple[int, str]:
        """(HTTP status, ETag or error text) of one PUT; status 0 when storage
        did not answer."""
        # The length is given, so httpx sends the streamed body as is, not chunked.
        sized = {**headers, "Content-Length": str(span.length)}
        body = _chunks(source, span, progress, stop)
        try:
            response = self._http.put(url, content=body, headers=sized)
        except httpx.TransportError as error:
            if stop.is_set():
                raise Stopped() from error
            return 0, f"{type(error).__name__}: {error}".rstrip(": ")
        if response.is_success:
            return response.status_code, response.headers.get("etag", "")
        return response.status_code, _s3_error(response.text)


def _chunks(
    source: Source, span: Range, progress: Callable[[int], None], stop: threading.Event
) -> Iterator[bytes]:
    sent = 0
    while sent < span.length:
        if stop.is_set():
            raise Stopped()
        chunk = source.read_at(span.start + sent, min(CHUNK_BYTES, span.length - sent))
        if not chunk:
            raise StorageError(f"{source.name} changed while uploading: it is shorter now")
        sent += len(chunk)
        yield chunk
        progress(sent)


def _failure(status: int, answer: str, attempts: int) -> StorageError:
    tries = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
    if status == 0:
        return StorageUnavailable(f"storage did not answer {tries} ({answer})")
    if status >= 500:
        return StorageUnavailable(f"storage answered HTTP {status} {tries}: {answer}", status)
    return StorageError(f"storage refused the upload with HTTP {status}: {answer}", status)


_S3_ERROR = re.compile(r"<Code>(.*?)</Code>.*?<Message>(.*?)</Message>", re.S)


def _s3_error(text: str) -> str:
    """An S3 error body's code and message, or the start of whatever came back."""
    found = _S3_ERROR.search(text)
    return f"{found[1]}: {found[2]}" if found else text.strip()[:200]
