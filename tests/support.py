"""Helpers and assertions the tests share (what the benchmarks share with
them lives in harness/): gRPC health, what the mesh keeps out of the API's
sight (storage keys, post rows, its logs), media_service's tables, WatchMedia
and grpc-web on the wire, video probes, metric scrapes."""

import json
import struct
import subprocess
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import grpc
import httpx
import psycopg2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from peewee import DatabaseProxy
from PIL import Image

from gateway.localmesh import LocalMesh
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness import media_files
from harness.waiting import wait_for
from media_service.config import StorageConfig
from media_service.models import database
from media_service.status import Status
from mesh.db import close_all, open_database, utcnow
from mesh.migrations import migrate

# Storage as the presigning tests set it: the embedded S3 server's address, AWS's example keys.
STORAGE_CONFIG = StorageConfig(
    endpoint_url="http://127.0.0.1:9000",
    access_key_id="AKIDEXAMPLE",
    secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    region="auto",
    bucket="media",
    cdn_base_url="http://cdn.example",
    presign_ttl_seconds=900,
    private_url_ttl_seconds=600,
)


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


def storage_key(session: dict[str, Any], bucket: str) -> str:
    """The object key a session's uploadUrl writes to."""
    path = urlparse(session["uploadUrl"]).path
    prefix = f"/{bucket}/"
    assert path.startswith(prefix), path
    return path[len(prefix) :]


def posts_of(database_url: str, author: str) -> list[tuple[str, str]]:
    """(id, status) of an author's posts, read from post_service's table: what
    the API cannot show (PENDING posts are invisible), a test can."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, status FROM posts WHERE author_id = %s", (author,))
        return cursor.fetchall()


def times_queued(mesh: LocalMesh, media_id: str) -> int:
    """How often media_service logged queueing this media's processing."""
    lines = mesh.log_path("media_service").read_text().splitlines()
    return sum(1 for line in lines if "queued processing" in line and media_id in line)


@contextmanager
def migrated(proxy: DatabaseProxy, url: str, package: str, table: str) -> Iterator[None]:
    """A service's tables (its migrations `package`, recorded in `table`),
    migrated on the database at `url` and bound to `proxy` for the block."""
    proxy.initialize(open_database(url, max_connections=40))
    migrate(proxy, package, table)
    try:
        yield
    finally:
        close_all(proxy)


def media_tables(url: str) -> AbstractContextManager[None]:
    """media_service's tables on the database at `url`, bound for the block."""
    return migrated(database, url, "media_service.migrations", "media_schema_migrations")


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
            metadata=(("authorization", f"Bearer {token}"),),
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

    @property
    def refusal(self) -> grpc.Call:
        """The status the stream ended with (grpc's errors are calls too)."""
        assert isinstance(self.error, grpc.Call), (
            f"the stream did not end with an error: {self.error}"
        )
        return self.error

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


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    """The image's bands at `xy` (a multi-band image's pixel is a tuple)."""
    value = image.getpixel(xy)
    assert isinstance(value, tuple), f"a {image.mode} image has one band"
    return value
