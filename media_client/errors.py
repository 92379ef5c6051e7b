"""What can go wrong, as exceptions a caller can branch on.

    MediaClientError          base
    ├── MissingToken          no token given and none in MEDIA_TOKEN
    ├── FileRefused           the file failed the local checks: nothing was sent
    ├── ApiError              the API answered with an error status
    │   └── ServiceUnavailable  ... UNAVAILABLE or DEADLINE_EXCEEDED, after retries
    ├── StorageError          storage refused a PUT (HTTP status and its answer)
    │   └── StorageUnavailable  ... or did not answer, after retries
    └── ProcessingFailed      the upload is stored, but processing ended FAILED

`ApiError` carries the gRPC status code, the server's message and its
`google.rpc.ErrorInfo`: `reason` is what to branch on (MEDIA_NOT_FOUND,
FILE_TOO_LARGE, TOO_MANY_PENDING, ...: the README lists them), `metadata`
what it concerns ({"mediaId": ...}).
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from genproto.media.v1 import media_pb2


class MediaClientError(Exception):
    """Base of every error the client raises."""


class MissingToken(MediaClientError):
    """No token to call the API with."""


class FileRefused(MediaClientError):
    """The file cannot be uploaded as asked; found before any request."""


class ApiError(MediaClientError):
    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        info: error_details_pb2.ErrorInfo | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.info = info

    @property
    def reason(self) -> str:
        """The ErrorInfo reason when the server sent one, else the status name
        (the gateway's own refusals carry no ErrorInfo)."""
        return self.info.reason if self.info and self.info.reason else self.code.name

    @property
    def metadata(self) -> dict[str, str]:
        """The ErrorInfo metadata: what the reason concerns, e.g. {"mediaId": ...}."""
        return dict(self.info.metadata) if self.info else {}

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class ServiceUnavailable(ApiError):
    """The gateway or a service behind it could not be reached in time."""


class StorageError(MediaClientError):
    def __init__(self, message: str, http_status: int = 0) -> None:
        super().__init__(message)
        self.http_status = http_status  # 0: no answer at all


class StorageUnavailable(StorageError):
    """Storage did not answer (or answered 5xx) on every attempt."""


class ProcessingFailed(MediaClientError):
    def __init__(self, media: media_pb2.Media) -> None:
        super().__init__(f"processing failed: {media.failure_reason or 'no reason given'}")
        self.media = media


_OUTAGES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def from_rpc_error(error: grpc.RpcError) -> ApiError:
    """The ApiError for a failed call, with the ErrorInfo from its status details."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or code.name
    info = _error_info(error)
    cls = ServiceUnavailable if code in _OUTAGES else ApiError
    return cls(code, message, info)


def _error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # details that disagree with the status: ignore them
        return None
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None
