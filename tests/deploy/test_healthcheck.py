"""deploy/healthcheck.py, the image's probe where no native one reaches."""

import importlib.util
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.processes import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def test_grpc_serving_is_healthy(
    healthcheck: ModuleType, health_server: tuple[str, health.HealthServicer]
) -> None:
    target, servicer = health_server
    servicer.set("media.v1.MediaService", health_pb2.HealthCheckResponse.SERVING)
    assert healthcheck.main(["grpc", target, "media.v1.MediaService"]) == 0


def test_grpc_not_serving_is_unhealthy(
    healthcheck: ModuleType, health_server: tuple[str, health.HealthServicer]
) -> None:
    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.grpc_serving(target) == f"{target}: NOT_SERVING"
    assert healthcheck.main(["grpc", target]) == 1
    # A service the server does not know is not healthy either.
    assert healthcheck.grpc_serving(target, "nope") == f"{target}: NOT_FOUND"


def test_grpc_nobody_listening_is_unhealthy(healthcheck: ModuleType) -> None:
    target = f"127.0.0.1:{free_port()}"
    assert healthcheck.grpc_serving(target) == f"{target}: UNAVAILABLE"


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/readyz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_200_is_healthy_and_anything_else_not(
    healthcheck: ModuleType, http_server: str
) -> None:
    assert healthcheck.main(["http", f"{http_server}/readyz"]) == 0
    assert "503" in healthcheck.http_ok(f"{http_server}/livez")
    assert healthcheck.main(["http", f"{http_server}/livez"]) == 1


def test_a_wrong_command_line_is_usage(healthcheck: ModuleType) -> None:
    assert healthcheck.main([]) == 2
    assert healthcheck.main(["tcp", "127.0.0.1:1"]) == 2
