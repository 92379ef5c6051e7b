"""Another service's gRPC errors, as the calling service sees them."""

import grpc
import pytest

from mesh.client import errors_as_mesh_errors
from mesh.errors import Internal, InvalidArgument, NotFound, Unavailable


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    "code, error, message",
    [
        (grpc.StatusCode.UNAVAILABLE, Unavailable, "media_service is unavailable"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, Unavailable, "media_service is unavailable"),
        # a fault on this request is not an outage: retrying it would not help
        (grpc.StatusCode.INTERNAL, Internal, "media_service failed on this request"),
        (grpc.StatusCode.UNKNOWN, Internal, "media_service failed on this request"),
        (grpc.StatusCode.NOT_FOUND, NotFound, "media m not found"),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument, "media m not found"),
    ],
)
def test_each_status_becomes_the_matching_mesh_error(code, error, message):
    with pytest.raises(error) as raised, errors_as_mesh_errors("media_service"):
        raise _RpcError(code, "media m not found")

    assert type(raised.value) is error
    assert raised.value.message == message
