"""The server factory: health, reflection, auth before the handler, and drain."""

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import middleware
from mesh.server import Service, create_server

SLOW = "/test.Slow/Wait"
started = threading.Event()


def _register_slow(servicer, server: grpc.Server) -> None:
    def wait(request: bytes, context) -> bytes:
        started.set()
        time.sleep(0.5)
        return b"done"

    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(wait)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("test.Slow", {"Wait": handler})]
    )


def _call_slow(channel: grpc.Channel) -> bytes:
    wait: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(SLOW)
    return wait(b"", timeout=5)


@pytest.fixture
def running():
    running = create_server(
        [Service("test.Slow", None, _register_slow)], [middleware.map_errors], "127.0.0.1:0"
    )
    running.server.start()
    yield running
    running.server.stop(0)


def test_health_says_serving_for_the_server_and_each_service(running):
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{running.port}"))

    for name in ("", "test.Slow"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_stopping_drains_the_call_in_flight_and_refuses_new_ones(running):
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    results: list[bytes] = []
    started.clear()
    in_flight = threading.Thread(target=lambda: results.append(_call_slow(channel)))
    in_flight.start()
    assert started.wait(5), "the call never reached the handler"

    running.health.enter_graceful_shutdown()
    stopped = running.server.stop(grace=5)
    in_flight.join()

    assert results == [b"done"]
    stopped.wait(5)
    with pytest.raises(grpc.RpcError) as raised:
        _call_slow(grpc.insecure_channel(f"127.0.0.1:{running.port}"))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
