"""The Python client of the media mesh: a library (MediaClient) and a CLI
(`python -m media_client`). It uses only the public API: the generated stubs,
over native gRPC to the gateway (or straight at a service), and presigned
PUTs straight to storage; the media-type table and content signatures it
checks files with are the public ones of media_formats."""

from media_client.client import MediaClient
from media_client.errors import (
    ApiError,
    FileRefused,
    MediaClientError,
    MissingToken,
    ProcessingFailed,
    ServiceUnavailable,
    StorageError,
    StorageUnavailable,
)

__all__ = [
    "ApiError",
    "FileRefused",
    "MediaClient",
    "MediaClientError",
    "MissingToken",
    "ProcessingFailed",
    "ServiceUnavailable",
    "StorageError",
    "StorageUnavailable",
]
