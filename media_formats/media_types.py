"""The one table of media types: allowed MIME types, their extensions, size limits.

Part of the public contract, shared by the service (which enforces it) and the
clients (which check a file against it before sending a byte).
"""

from dataclasses import dataclass

MIB = 1024 * 1024
GIB = 1024 * MIB
# Files larger than this go up as a multipart upload; up to it, as one PUT.
MULTIPART_THRESHOLD = 5 * MIB


@dataclass(frozen=True)
class MediaType:
    name: str
    kind: str  # "image" or "video": decides the processing
    extensions: dict[str, str]  # MIME type -> the extension used in storage keys
    max_size: int


MEDIA_TYPES: dict[str, MediaType] = {
    t.name: t
    for t in [
        MediaType(
            name="post-image",
            kind="image",
            extensions={
                "image/jpeg": "jpg",
                "image/png": "png",
                "image/webp": "webp",
                "image/gif": "gif",
                "image/heic": "heic",
            },
            max_size=20 * MIB,
        ),
        MediaType(
            name="post-video",
            kind="video",
            extensions={"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"},
            max_size=2 * GIB,
        ),
        MediaType(
            name="avatar",
            kind="image",
            extensions={"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"},
            max_size=5 * MIB,
        ),
    ]
}
