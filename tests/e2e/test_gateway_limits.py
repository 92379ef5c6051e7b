"""What the gateway bounds and adds at the edge: connections that send no
request, oversized headers, the headers of every reply, the access log."""

import json
import select
import socket
import time
import uuid

import grpc
import httpx
import pytest

from gateway import envoy_config
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness.rest import Api
from harness.waiting import wait_for

IDLE_CONNECTIONS = 300
HALF_SENT_CONNECTIONS = 30
HALF_A_REQUEST = b"GET /api/v1/media HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bear"


class RawConnection:
    """A TCP connection to the gateway that we read from without blocking."""

    def __init__(self, port: int, send: bytes = b"") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if send:
            self.sock.sendall(send)
        self.sock.setblocking(False)
        self.received = b""
        self.closed_after: float | None = None

    def read(self, since: float) -> None:
        """Take what has arrived; note when the gateway closed (FIN or reset)."""
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError:
            chunk = b""
        if chunk:
            self.received += chunk
        else:
            self.closed_after = time.monotonic() - since


def test_connections_without_a_request_are_closed_and_callers_are_served_meanwhile(
    settings, api: Api
):
    opened = time.monotonic()
    idle = [RawConnection(settings.gateway_port) for _ in range(IDLE_CONNECTIONS)]
    half_sent = [
        RawConnection(settings.gateway_port, HALF_A_REQUEST) for _ in range(HALF_SENT_CONNECTIONS)
    ]
    connections = idle + half_sent
    try:
        # A caller with a request gets in while they are open.
        assert api.http.get("/api/v1/media").status_code == 200

        def all_closed() -> bool:
            still_open = [c for c in connections if c.closed_after is None]
            readable, _, _ = select.select([c.sock for c in still_open], [], [], 0.2)
            for connection in still_open:
                if connection.sock in readable:
                    connection.read(since=opened)
            return all(c.closed_after is not None for c in connections)

        # Each timeout, plus Envoy's 1 s delayed close after a reply and slack.
        bound = (
            max(envoy_config.IDLE_TIMEOUT_SECONDS, envoy_config.REQUEST_HEADERS_TIMEOUT_SECONDS) + 5
        )
        wait_for(all_closed, "the gateway to close connections that send no request", bound)
    finally:
        for connection in connections:
            connection.sock.close()

    # Not one of them was closed before its time was up: the timeouts did it.
    assert min(c.closed_after or 0 for c in idle) >= envoy_config.IDLE_TIMEOUT_SECONDS - 1
    assert all(c.received == b"" for c in idle)
    # A half-sent request gets the JSON error of a REST call that timed out.
    for connection in half_sent:
        head, _, body = connection.received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), connection.received
        assert json.loads(body) == {"code": 4, "message": "request header timeout", "details": []}


REPLIES = {
    "a success": lambda api, anonymous: api.http.get("/api/v1/media"),
    "a service error": lambda api, anonymous: api.media("no-such-media"),
    "a gateway error, no token": lambda api, anonymous: anonymous.http.get("/api/v1/media"),
    "a gateway error, unknown path": lambda api, anonymous: api.http.get("/api/v1/nothing-here"),
    "a gateway error, internal method": lambda api, anonymous: api.http.post(
        "/media.v1.MediaService/AttachMedia", headers={"content-type": "application/grpc"}
    ),
}


@pytest.mark.parametrize("reply", REPLIES)
def test_every_reply_is_neither_sniffed_nor_cached_and_names_no_proxy(api, anonymous, reply):
    response = REPLIES[reply](api, anonymous)

    assert response.status_code in (200, 401, 404)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "server" not in response.headers
    assert [name for name in response.headers if name.startswith("x-envoy-")] == []


def test_a_grpc_reply_names_no_proxy_either(settings, api: Api):
    stub = media_pb2_grpc.MediaServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{settings.gateway_port}")
    )
    metadata = (("authorization", api.http.headers["authorization"]),)

    _, call = stub.ListMedia.with_call(media_pb2.ListMediaRequest(), metadata=metadata, timeout=10)

    names = [key for key, _ in (*call.initial_metadata(), *call.trailing_metadata())]
    assert "server" not in names
    assert [name for name in names if name.startswith("x-envoy-")] == []


def test_request_headers_over_32_kib_are_431_with_the_json_error(api: Api):
    reply = api.http.get("/api/v1/media", headers={"x-padding": "a" * 40_000})

    assert reply.status_code == 431
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"code": 8, "message": "Request Header Fields Too Large", "details": []}


def test_the_access_log_keeps_at_most_128_characters_of_a_request_id(api: Api, mesh):
    request_id = f"long-{uuid.uuid4()}-" + "x" * 15_000

    api.http.get("/api/v1/media", headers={"x-request-id": request_id})

    def logged() -> list[dict]:
        lines = mesh.log_path("envoy").read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if request_id[:60] in line]

    line = wait_for(logged, "Envoy's access log line")[0]
    assert len(line["request_id"]) == envoy_config.MAX_REQUEST_ID_CHARS
    assert request_id.startswith(line["request_id"])


def test_a_header_named_with_an_underscore_never_reaches_a_service(api: Api, settings):
    def dropped() -> int:
        stats = httpx.get(f"{settings.admin_url}/stats?format=json").json()
        return sum(
            s["value"]
            for s in stats["stats"]
            if s.get("name", "").endswith("dropped_headers_with_underscores")
            and not s["name"].startswith("cluster.")
        )

    before = dropped()
    reply = api.http.get("/api/v1/media", headers={"x_mesh_on_behalf_of": "someone-else"})

    assert reply.status_code == 200
    assert dropped() == before + 1
