"""Helpers the tests share: free ports, a throwaway PostgreSQL database, the
gateway's REST API as a client sees it, and waiting on a condition."""

import io
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import grpc
import httpx
import psycopg2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

ADMIN_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def fresh_postgres_database(admin_url: str = ADMIN_DATABASE_URL) -> Iterator[str]:
    """A new, empty database for one test session; dropped afterwards."""
    name = f"mesh_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def grpc_serving(address: str) -> bool:
    """Whether the gRPC server at `address` reports SERVING (False if it is not up)."""
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
    except grpc.RpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll until `condition()` returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Api:
    """The REST API through the gateway, as one user."""

    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=20)

    def create_session(
        self, data: bytes, file_type: str = "image/jpeg", **overrides: Any
    ) -> httpx.Response:
        body = {
            "fileName": "photo.jpg",
            "fileType": file_type,
            "fileSize": len(data),
            "mediaType": "post-image",
            **overrides,
        }
        return self.http.post("/api/v1/media/upload-session", json=body)

    def complete(self, media_id: str) -> httpx.Response:
        return self.http.post(f"/api/v1/media/{media_id}/complete")

    def media(self, media_id: str) -> httpx.Response:
        return self.http.get(f"/api/v1/media/{media_id}")

    def upload(
        self, data: bytes, file_type: str = "image/jpeg", **overrides: Any
    ) -> dict[str, Any]:
        """Session, PUT to storage, complete: the whole single-PUT flow."""
        session = self.create_session(data, file_type, **overrides)
        assert session.status_code == 200, session.text
        put(session.json(), data)
        completed = self.complete(session.json()["mediaId"])
        assert completed.status_code == 200, completed.text
        return completed.json()

    def complete_multipart(
        self, media_id: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> httpx.Response:
        body = {"uploadId": upload_id, "parts": [{"partNumber": n, "etag": e} for n, e in parts]}
        return self.http.post(f"/api/v1/media/{media_id}/complete-multipart", json=body)

    def parts(self, media_id: str, marker: int = 0) -> httpx.Response:
        params = {"partNumberMarker": marker} if marker else {}
        return self.http.get(f"/api/v1/media/{media_id}/parts", params=params)

    def create_post(self, content: str, media_ids: list[str]) -> httpx.Response:
        return self.http.post("/feed/submit", json={"content": content, "mediaIds": media_ids})


def put(session: dict[str, Any], data: bytes, **header_overrides: str) -> httpx.Response:
    """PUT straight to storage with the headers the session asked for."""
    headers = {**session["uploadHeaders"], **header_overrides}
    reply = httpx.put(session["uploadUrl"], content=data, headers=headers, timeout=20)
    assert reply.status_code == 200, reply.text
    return reply


def storage_key(session: dict[str, Any], bucket: str) -> str:
    """The object key a session's uploadUrl writes to."""
    path = urlparse(session["uploadUrl"]).path
    prefix = f"/{bucket}/"
    assert path.startswith(prefix), path
    return path[len(prefix) :]


def small_jpeg(size: int = 2048) -> bytes:
    """A real (decodable) 16x16 JPEG of a random colour, padded to `size` bytes
    (decoders ignore what follows the end-of-image marker)."""
    colour = tuple(os.urandom(3))
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    assert len(data) <= size, f"a JPEG needs at least {len(data)} bytes"
    return data + os.urandom(size - len(data))


def fake_mp4(size: int) -> bytes:
    """Bytes laid out like an MP4 (an ftyp box, then an mdat box holding the
    rest), random inside the mdat: what a camera writes, as far as the leading
    bytes tell."""
    ftyp = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    mdat = struct.pack(">I", size - len(ftyp)) + b"mdat"
    return ftyp + mdat + os.urandom(size - len(ftyp) - len(mdat))


def write_fake_mp4(path: Path, size: int) -> None:
    """fake_mp4 of `size` bytes written to `path` a MiB at a time, never whole in memory."""
    mib = 1024 * 1024
    head = bytearray(fake_mp4(min(size, mib)))
    head[24:28] = (size - 24).to_bytes(4, "big")  # the mdat box spans the whole file
    with path.open("wb") as file:
        file.write(head)
        for written in range(len(head), size, mib):
            file.write(os.urandom(min(mib, size - written)))


def put_part(url: str, data: bytes) -> str:
    """PUT one part straight to storage; its ETag."""
    reply = httpx.put(url, content=data, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.headers["etag"]


def posts_of(database_url: str, author: str) -> list[tuple[str, str]]:
    """(id, status) of an author's posts, read from post_service's table: what
    the API cannot show (PENDING posts are invisible), a test can."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, status FROM posts WHERE author_id = %s", (author,))
        return cursor.fetchall()
