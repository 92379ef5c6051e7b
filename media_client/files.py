"""The file to upload: its bytes, readable at any offset from many threads at
once, and the local check made before any request (what it is by its content,
and whether the media type takes it), judged by the same table and signatures
the server uses (media_formats)."""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from media_client.errors import FileRefused
from media_formats import signatures
from media_formats.media_types import MEDIA_TYPES, MediaType

# The media type a file goes up as when none is named, by what it is.
DEFAULT_MEDIA_TYPE = {"image": "post-image", "video": "post-video"}


class Source:
    """A file's bytes, from a path or from a seekable binary file object."""

    def __init__(self, path_or_file: str | os.PathLike[str] | BinaryIO) -> None:
        if isinstance(path_or_file, (str, os.PathLike)):
            self.path: Path | None = Path(path_or_file)
            self._file: BinaryIO = self._open(self.path)
            self._owned = True
        else:
            self.path = None
            self._file = path_or_file
            self._owned = False
        self.name = Path(getattr(self._file, "name", "") or "upload").name
        self.size = self._file.seek(0, io.SEEK_END)
        self._fd = _descriptor(self._file)  # None: read under a lock instead
        self.modified_ns = os.fstat(self._fd).st_mtime_ns if self._fd is not None else 0
        self._lock = threading.Lock()

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset`, safe to call from any thread."""
        if self._fd is not None:
            return os.pread(self._fd, length, offset)
        with self._lock:
            self._file.seek(offset)
            return self._file.read(length)

    def close(self) -> None:
        if self._owned:
            self._file.close()

    @staticmethod
    def _open(path: Path) -> BinaryIO:
        if path.is_dir():
            raise FileRefused(f"{path}: is a directory")
        try:
            return path.open("rb")
        except OSError as error:
            raise FileRefused(f"{path}: {error.strerror or error}") from error


def _descriptor(file: BinaryIO) -> int | None:
    """The OS file descriptor behind `file`, if it has one (a BytesIO has not)."""
    try:
        return file.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


@dataclass(frozen=True)
class LocalFile:
    source: Source
    file_type: str  # the MIME type its content says
    media_type: str

    @property
    def size(self) -> int:
        return self.source.size


def inspect(source: Source, media_type: str | None = None) -> LocalFile:
    """What `source` is and the media type it goes up as; FileRefused saying
    why the server would refuse it."""
    label = source.path or source.name
    head = source.read_at(0, signatures.HEAD_BYTES)
    file_type = _content_type(label, head, source.size)
    kind = _media_type(label, file_type, media_type)
    if source.size > kind.max_size:
        raise FileRefused(
            f"{label}: {source.size} bytes is over the {kind.max_size} bytes {kind.name} allows"
        )
    return LocalFile(source, file_type, kind.name)


def _content_type(label: object, head: bytes, size: int) -> str:
    if not head:
        raise FileRefused(f"{label}: the file is empty")
    found = signatures.sniff(head, size)
    if found in signatures.SIGNATURES:
        return found
    what = f"content is {found}" if found else "content is not recognised"
    raise FileRefused(
        f"{label}: {what}, not an image or video ({', '.join(signatures.SIGNATURES)})"
    )


def _media_type(label: object, file_type: str, named: str | None) -> MediaType:
    name = named or DEFAULT_MEDIA_TYPE[_kind_of(file_type)]
    kind = MEDIA_TYPES.get(name)
    if kind is None:
        raise FileRefused(f"unknown media type {name!r}: one of {', '.join(MEDIA_TYPES)}")
    if file_type not in kind.extensions:
        accepted = ", ".join(kind.extensions)
        raise FileRefused(
            f"{label}: content is {file_type}, which {name} does not take ({accepted})"
        )
    return kind


def _kind_of(file_type: str) -> str:
    return "video" if file_type.startswith("video/") else "image"
