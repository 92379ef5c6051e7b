"""The one exception tree of the mesh, and the registry of its codes.

    MeshError                 base; UNKNOWN (HTTP 500) for a code none of these has
    ├── InvalidArgument       INVALID_ARGUMENT     3   HTTP 400
    ├── FailedPrecondition    FAILED_PRECONDITION  9   HTTP 400
    ├── Unauthenticated       UNAUTHENTICATED     16   HTTP 401
    ├── PermissionDenied      PERMISSION_DENIED    7   HTTP 403
    ├── NotFound              NOT_FOUND            5   HTTP 404
    ├── AlreadyExists         ALREADY_EXISTS       6   HTTP 409
    ├── Conflict              ABORTED             10   HTTP 409
    ├── ResourceExhausted     RESOURCE_EXHAUSTED   8   HTTP 429 (the gateway's 413, 431 too)
    ├── DeadlineExceeded      DEADLINE_EXCEEDED    4   HTTP 504 (the gateway's 408 too)
    ├── Unavailable           UNAVAILABLE         14   HTTP 503
    └── Internal              INTERNAL            13   HTTP 500  another service failed

Each class holds its gRPC code (name and number, as plain data: domain code
never imports grpc) and its HTTP status; `error_class` and
`error_class_for_http` map both ways, and `local_reply_codes` gives the
gateway the same table for the replies it makes itself.

Domain code raises these; `mesh.middleware.map_errors` turns them into gRPC
statuses, in exactly one place. The message is what a person reads: say
exactly what was wrong. The `reason` (a google.rpc.ErrorInfo reason, with its
`metadata`) is what a program branches on: the specific problem, e.g.
MEDIA_NOT_FOUND {mediaId}. Reasons are declared once per owner: `Reason` here
for those the whole mesh gives, `media_service.reasons` and
`post_service.reasons` for each service's own; the README lists them all.
"""

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import ClassVar

from google.protobuf.message import Message

# The ErrorInfo domain of every error the mesh sends.
ERROR_DOMAIN = "media-mesh"


class Reason(StrEnum):
    """Reasons any service of the mesh gives: its shared checks and outages."""

    INVALID_FIELD = "INVALID_FIELD"  # {field}: a field's value is not acceptable
    MALFORMED_REQUEST = "MALFORMED_REQUEST"  # the bytes are not a request of the method's type
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    INTERNAL_METHOD = "INTERNAL_METHOD"  # {method}
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    IDENTITY_UNAVAILABLE = "IDENTITY_UNAVAILABLE"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"  # {service}: another service of the mesh
    SERVICE_FAILED = "SERVICE_FAILED"  # {service}: it failed on this request
    INTERNAL_ERROR = "INTERNAL_ERROR"  # a bug: the operators have the details


class MeshError(Exception):
    code: ClassVar[str] = "UNKNOWN"
    code_number: ClassVar[int] = 2
    http_status: ClassVar[int] = 500
    # Further HTTP statuses meaning this code, in replies the gateway makes itself.
    gateway_statuses: ClassVar[tuple[int, ...]] = ()
    # The reason of an error raised without one: "" means the code's name.
    default_reason: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        metadata: Mapping[str, str | int] | None = None,
        details: Sequence[Message] = (),
    ) -> None:
        """`reason`: the specific problem, UPPER_SNAKE_CASE (a declared Reason);
        `metadata`: what it concerns, lowerCamelCase keys (`mediaId`, `field`,
        `limit`, ...); `details`: further google.rpc detail messages
        (QuotaFailure, ...) sent after the ErrorInfo."""
        super().__init__(message)
        self.message = message
        self.reason = str(reason or self.default_reason or self.code)
        self.metadata: Mapping[str, str] = {k: str(v) for k, v in (metadata or {}).items()}
        self.details = tuple(details)


class InvalidArgument(MeshError):
    code, code_number, http_status = "INVALID_ARGUMENT", 3, 400


def invalid_field(field: str, message: str) -> InvalidArgument:
    """INVALID_FIELD {field}: the value of `field` is not acceptable, as `message` says."""
    return InvalidArgument(message, reason=Reason.INVALID_FIELD, metadata={"field": field})


class FailedPrecondition(MeshError):
    code, code_number, http_status = "FAILED_PRECONDITION", 9, 400


class Unauthenticated(MeshError):
    code, code_number, http_status = "UNAUTHENTICATED", 16, 401


class PermissionDenied(MeshError):
    code, code_number, http_status = "PERMISSION_DENIED", 7, 403


class NotFound(MeshError):
    code, code_number, http_status = "NOT_FOUND", 5, 404


class AlreadyExists(MeshError):
    code, code_number, http_status = "ALREADY_EXISTS", 6, 409


class Conflict(MeshError):
    code, code_number, http_status = "ABORTED", 10, 409


class ResourceExhausted(MeshError):
    code, code_number, http_status = "RESOURCE_EXHAUSTED", 8, 429
    gateway_statuses = (413, 431)  # a body or header block over the gateway's limits


class DeadlineExceeded(MeshError):
    """No service raises it (a late answer is UNAVAILABLE there): it is in the
    registry for the gateway, whose timeouts answer it."""

    code, code_number, http_status = "DEADLINE_EXCEEDED", 4, 504
    gateway_statuses = (408,)  # a request that did not arrive in time


class Unavailable(MeshError):
    code, code_number, http_status = "UNAVAILABLE", 14, 503


class Internal(MeshError):
    """Another service of the mesh failed on a request: a fault, not an outage,
    so retrying the same request will not help."""

    code, code_number, http_status = "INTERNAL", 13, 500
    default_reason = Reason.SERVICE_FAILED


ERRORS: tuple[type[MeshError], ...] = (
    InvalidArgument,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    Conflict,
    ResourceExhausted,
    DeadlineExceeded,
    Unavailable,
    Internal,
)
# An HTTP status two codes share reads as the more general one: a bare 400 says
# the request is wrong (INVALID_ARGUMENT), not that the system is in the wrong
# state for it (FAILED_PRECONDITION); a bare 409 says the request conflicts
# with the current state (ABORTED), not that what it creates exists already
# (ALREADY_EXISTS). These are also what the gateway's own 400s mean.
SHARED_HTTP_STATUSES: Mapping[int, type[MeshError]] = {400: InvalidArgument, 409: Conflict}

_BY_CODE = {cls.code: cls for cls in ERRORS}
_BY_NUMBER = {cls.code_number: cls for cls in ERRORS}


def _by_http_status() -> dict[int, type[MeshError]]:
    table: dict[int, type[MeshError]] = {}
    for cls in ERRORS:
        for http_status in (cls.http_status, *cls.gateway_statuses):
            if table.get(http_status, cls) is not cls:
                table[http_status] = SHARED_HTTP_STATUSES[http_status]
            else:
                table[http_status] = cls
    return dict(sorted(table.items()))


_BY_HTTP_STATUS = _by_http_status()


def error_class(code: str | int) -> type[MeshError]:
    """The class of a gRPC code, by name or number; MeshError for any other."""
    if isinstance(code, str):
        return _BY_CODE.get(code, MeshError)
    return _BY_NUMBER.get(code, MeshError)


def error_class_for_http(http_status: int) -> type[MeshError]:
    """The class an HTTP status stands for; MeshError (UNKNOWN) for one none has."""
    return _BY_HTTP_STATUS.get(http_status, MeshError)


def local_reply_codes() -> list[tuple[int, int]]:
    """(HTTP status, gRPC code number) for every HTTP status of the registry,
    ascending: the JSON body `code` of a reply the gateway makes itself."""
    return [(http_status, cls.code_number) for http_status, cls in _BY_HTTP_STATUS.items()]


def error_for_status(
    code: str,
    message: str,
    *,
    reason: str = "",
    metadata: Mapping[str, str | int] | None = None,
    details: Sequence[Message] = (),
) -> MeshError:
    """The MeshError for a gRPC code name, e.g. from another service's reply."""
    return error_class(code)(message, reason=reason, metadata=metadata, details=details)
