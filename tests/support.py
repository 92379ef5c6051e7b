"""Helpers the tests share: free ports, a throwaway PostgreSQL database, the
gateway's REST API as a client sees it, and waiting on a condition."""

import io
import json
import os
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import grpc
import httpx
import psycopg2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from gateway.processes import free_port as free_port  # for the tests, from here
from genproto.media.v1 import media_pb2, media_pb2_grpc
from media_service.models import Status, database
from mesh.db import close_all, open_database, utcnow
from mesh.migrations import migrate
from tests import media_files

ADMIN_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


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
    return grpc_health(address) == "SERVING"


def grpc_health(address: str, service: str = "") -> str | None:
    """What the gRPC server at `address` says of its (or `service`'s) health
    (SERVING, NOT_SERVING, ...), or None when it does not answer."""
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1
            )
    except grpc.RpcError:
        return None
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


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


@contextmanager
def media_tables(url: str) -> Iterator[None]:
    """media_service's tables, migrated, on the database at `url`, bound for the block."""
    database.initialize(open_database(url, max_connections=40))
    migrate(database, "media_service.migrations", "media_schema_migrations")
    try:
        yield
    finally:
        close_all(database)


def pending_row(owner: str) -> dict[str, Any]:
    """The fields of a new PENDING media of `owner`."""
    now = utcnow()
    media_id = str(uuid.uuid4())
    return {
        "id": media_id,
        "owner_id": owner,
        "media_type": "post-image",
        "status": Status.PENDING,
        "file_name": "a.jpg",
        "file_type": "image/jpeg",
        "file_size": 1000,
        "storage_key": f"post-image/{owner}/1-{media_id}.jpg",
        "expires_at": now + timedelta(minutes=15),
        "urls_expire_at": now + timedelta(minutes=15),
        "created_at": now,
        "updated_at": now,
    }


def status_of(event: media_pb2.MediaEvent) -> str:
    """The status an event of WatchMedia carries, by name."""
    return media_pb2.MediaStatus.Name(event.media.status)


class Watching:
    """One WatchMedia call over native gRPC, read in a thread of its own."""

    def __init__(self, address: str, token: str, media_ids: list[str], timeout: float = 90) -> None:
        self.channel = grpc.insecure_channel(address)
        stub = media_pb2_grpc.MediaServiceStub(self.channel)
        self.call = stub.WatchMedia(
            media_pb2.WatchMediaRequest(media_ids=media_ids),
            metadata=[("authorization", f"Bearer {token}")],
            timeout=timeout,
        )
        self.events: list[media_pb2.MediaEvent] = []
        self.error: grpc.RpcError | None = None
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.append(event)
        except grpc.RpcError as error:
            self.error = error
        finally:
            self.ended.set()

    @property
    def statuses(self) -> list[str]:
        return [status_of(e) for e in self.events if not e.keep_alive]

    def wait_first(self) -> None:
        wait_for(lambda: self.events or self.ended.is_set(), "the stream's first event")

    def wait_end(self, timeout: float = 60) -> None:
        assert self.ended.wait(timeout), f"the stream did not end: {self.statuses}"

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


# grpc-web's wire format: frames of a flag byte (0x80: trailers), a length, the bytes.
def grpc_web_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def grpc_web_frames(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(flag, payload) of each frame of a grpc-web body, as its chunks arrive."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 5:
            flag, length = buffer[0], struct.unpack(">I", buffer[1:5])[0]
            if len(buffer) < 5 + length:
                break
            yield flag, buffer[5 : 5 + length]
            buffer = buffer[5 + length :]


def grpc_web_reply(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """The messages and the trailers of a whole grpc-web response body."""
    messages, trailers = [], {}
    for flag, payload in grpc_web_frames([body]):
        if flag & 0x80:
            for line in payload.decode().strip().split("\r\n"):
                key, _, value = line.partition(":")
                trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def probe_video(path: Path) -> dict:
    """ffprobe's streams and format of the video at `path`."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def streams_of(probe: dict, kind: str) -> list[dict]:
    return [s for s in probe["streams"] if s["codec_type"] == kind]


def assert_plays_everywhere(
    path: Path, size: tuple[int, int], seconds: float, profile: str = "High"
) -> None:
    """An MP4 every browser plays: H.264 yuv420p and AAC, upright, without the
    original's metadata, its index before its data (faststart)."""
    probe = probe_video(path)
    [video] = streams_of(probe, "video")
    [audio] = streams_of(probe, "audio")
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", profile, "yuv420p")
    assert (video["width"], video["height"]) == size
    assert not video.get("side_data_list")  # upright as stored: no turn left to the player
    assert audio["codec_name"] == "aac" and audio["channels"] == 1  # as recorded (mono)
    assert abs(float(probe["format"]["duration"]) - seconds) < 0.2
    assert "location" not in probe["format"].get("tags", {})  # the phone's GPS is gone
    boxes = media_files.top_level_boxes(path.read_bytes())
    assert boxes.index("moov") < boxes.index("mdat")  # faststart: playable while downloading


def database_url_through(database_url: str, port: int) -> str:
    """`database_url`, reaching the same database through a proxy on `port`."""
    parsed = urlparse(database_url)
    return urlunparse(parsed._replace(netloc=f"{parsed.username or 'postgres'}@127.0.0.1:{port}"))


class Scrape:
    """One read of a Prometheus exporter: sample values by name and labels."""

    def __init__(self, url: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        reply = httpx.get(url, timeout=5)
        assert reply.status_code == 200, reply.text
        self.samples = [
            sample
            for family in text_string_to_metric_families(reply.text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )
