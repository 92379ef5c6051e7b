"""The one exception tree of the mesh.

    MeshError                 base; `status` names the gRPC status code
    ├── InvalidArgument       INVALID_ARGUMENT     (HTTP 400)
    ├── FailedPrecondition    FAILED_PRECONDITION  (HTTP 400)
    ├── Unauthenticated       UNAUTHENTICATED      (HTTP 401)
    ├── PermissionDenied      PERMISSION_DENIED    (HTTP 403)
    ├── NotFound              NOT_FOUND            (HTTP 404)
    ├── AlreadyExists         ALREADY_EXISTS       (HTTP 409)
    ├── Conflict              ABORTED              (HTTP 409)
    ├── ResourceExhausted     RESOURCE_EXHAUSTED   (HTTP 429)
    ├── Unavailable           UNAVAILABLE          (HTTP 503)
    └── Internal              INTERNAL             (HTTP 500)  another service failed

Domain code raises these and never imports grpc; `mesh.middleware.map_errors`
turns them into gRPC statuses, in exactly one place. The message is what the
client reads: say exactly what was wrong.
"""

from collections.abc import Sequence

from google.protobuf.message import Message


class MeshError(Exception):
    status = "UNKNOWN"

    def __init__(self, message: str, details: Sequence[Message] = ()) -> None:
        """`details`: google.rpc detail messages (QuotaFailure, ...) for programs,
        sent beside the ErrorInfo every error carries."""
        super().__init__(message)
        self.message = message
        self.details = tuple(details)


class InvalidArgument(MeshError):
    status = "INVALID_ARGUMENT"


class FailedPrecondition(MeshError):
    status = "FAILED_PRECONDITION"


class Unauthenticated(MeshError):
    status = "UNAUTHENTICATED"


class PermissionDenied(MeshError):
    status = "PERMISSION_DENIED"


class NotFound(MeshError):
    status = "NOT_FOUND"


class AlreadyExists(MeshError):
    status = "ALREADY_EXISTS"


class Conflict(MeshError):
    status = "ABORTED"


class ResourceExhausted(MeshError):
    status = "RESOURCE_EXHAUSTED"


class Unavailable(MeshError):
    status = "UNAVAILABLE"


class Internal(MeshError):
    """Another service of the mesh failed on a request: a fault, not an outage,
    so retrying the same request will not help."""

    status = "INTERNAL"


def error_for_status(status: str, message: str) -> MeshError:
    """The MeshError for a gRPC status name, e.g. from another service's reply."""
    for cls in MeshError.__subclasses__():
        if cls.status == status:
            return cls(message)
    return MeshError(message)
