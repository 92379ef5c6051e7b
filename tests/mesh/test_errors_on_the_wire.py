"""A MeshError as a caller receives it: the gRPC status, and in its details
the ErrorInfo (reason, domain, metadata) and the error's own details; and, on
the calling side of the mesh, the same error again (mesh.client)."""

import logging
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mesh import middleware
from mesh.client import errors_as_mesh_errors
from mesh.errors import (
    ERROR_DOMAIN,
    AlreadyExists,
    Internal,
    NotFound,
    Reason,
    ResourceExhausted,
    Unavailable,
)
from mesh.server import Service, create_server

ECHO = "test.Refusals"
QUOTA = error_details_pb2.QuotaFailure(
    violations=[error_details_pb2.QuotaFailure.Violation(subject="stored", description="0 left")]
)


def _register(servicer: object, server: grpc.Server) -> None:
    def missing(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise NotFound("media m not found", reason="MEDIA_NOT_FOUND", metadata={"mediaId": "m"})

    def taken(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise AlreadyExists(
            "media m is already attached to another post",
            reason="MEDIA_ATTACHED",
            metadata={"mediaId": "m", "postId": "p"},
        )

    def full(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise ResourceExhausted(
            "stored quota exceeded",
            reason="STORED_QUOTA_EXCEEDED",
            metadata={"limit": 10, "remaining": 0},
            details=[QUOTA],
        )

    def broken(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise ValueError("a bug")

    def down(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise Unavailable("the database is unavailable", reason=Reason.DATABASE_UNAVAILABLE)

    def late(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        yield b"first"
        raise Unavailable("this server is shutting down", reason="SERVER_DRAINING")

    unary = grpc.unary_unary_rpc_method_handler
    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Missing": unary(missing),
        "Taken": unary(taken),
        "Full": unary(full),
        "Broken": unary(broken),
        "Down": unary(down),
        "Late": grpc.unary_stream_rpc_method_handler(late),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(ECHO, handlers)])


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    running = create_server(
        [Service(ECHO, None, _register)],
        [middleware.log_requests, middleware.map_errors],
        "127.0.0.1:0",
    )
    running.server.start()
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield channel
    running.server.stop(0)


def _refusal(channel: grpc.Channel, method: str) -> grpc.RpcError:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{ECHO}/{method}")
    with pytest.raises(grpc.RpcError) as raised:
        call(b"", timeout=5)
    return raised.value


def _details(error: grpc.RpcError) -> list:
    status = rpc_status.from_call(error)
    assert status is not None
    assert (status.code, status.message) == (error.code().value[0], error.details())
    return list(status.details)


def _info(detail) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    return info


def test_a_refusal_carries_its_reason_and_metadata_in_the_error_info(channel):
    error = _refusal(channel, "Missing")

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "media m not found"
    [detail] = _details(error)
    info = _info(detail)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "MEDIA_NOT_FOUND",
        ERROR_DOMAIN,
        {"mediaId": "m"},
    )


def test_the_errors_own_details_follow_the_error_info(channel):
    error = _refusal(channel, "Full")

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    first, second = _details(error)
    assert _info(first).reason == "STORED_QUOTA_EXCEEDED"
    assert dict(_info(first).metadata) == {"limit": "10", "remaining": "0"}
    quota = error_details_pb2.QuotaFailure()
    assert second.Unpack(quota) and quota == QUOTA


def test_an_unexpected_exception_is_internal_with_the_reason_internal_error(channel):
    error = _refusal(channel, "Broken")

    assert (error.code(), error.details()) == (grpc.StatusCode.INTERNAL, "internal error")
    [detail] = _details(error)
    assert _info(detail).reason == Reason.INTERNAL_ERROR


def test_a_stream_that_fails_ends_with_the_reason(channel):
    stream: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(f"/{ECHO}/Late")
    replies = stream(b"", timeout=5)

    assert next(replies) == b"first"
    with pytest.raises(grpc.RpcError) as raised:
        next(replies)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    [detail] = _details(raised.value)
    assert _info(detail).reason == "SERVER_DRAINING"


def test_the_log_line_of_a_refused_call_names_its_code(channel, caplog):
    with caplog.at_level(logging.INFO, logger="mesh.rpc"):
        _refusal(channel, "Taken")

    [record] = [r for r in caplog.records if r.getMessage() == "rpc"]
    assert record.fields["status"] == "ALREADY_EXISTS"


def test_another_services_refusal_is_raised_again_with_its_reason_and_metadata(channel):
    with pytest.raises(AlreadyExists) as raised, errors_as_mesh_errors("media_service"):
        _call(channel, "Taken")

    assert raised.value.message == "media m is already attached to another post"
    assert raised.value.reason == "MEDIA_ATTACHED"
    assert raised.value.metadata == {"mediaId": "m", "postId": "p"}


def test_another_services_details_go_on_with_its_refusal(channel):
    with pytest.raises(ResourceExhausted) as raised, errors_as_mesh_errors("media_service"):
        _call(channel, "Full")

    assert raised.value.reason == "STORED_QUOTA_EXCEEDED"
    [detail] = raised.value.details
    quota = error_details_pb2.QuotaFailure()
    assert detail.Unpack(quota) and quota == QUOTA  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "method, error, reason",
    [
        ("Down", Unavailable, Reason.SERVICE_UNAVAILABLE),
        ("Broken", Internal, Reason.SERVICE_FAILED),
    ],
)
def test_another_services_outage_or_fault_is_named_by_the_caller(channel, method, error, reason):
    with pytest.raises(error) as raised, errors_as_mesh_errors("media_service"):
        _call(channel, method)

    assert raised.value.reason == reason
    assert raised.value.metadata == {"service": "media_service"}


def _call(channel: grpc.Channel, method: str) -> bytes:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{ECHO}/{method}")
    return call(b"", timeout=5)
