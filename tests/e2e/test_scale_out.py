"""Scale-out, proven on one machine: two instances of each service, each its
own process group on its own port, Envoy balancing across them by health, two
workers on RabbitMQ, one PostgreSQL.

Under a steady load of uploads and posts, one media_service instance is
SIGKILLed, then the worker in the middle of a job; both are restarted. Every
request either succeeds or fails with UNAVAILABLE and then succeeds on the
client's retry; no media is left PENDING, PROCESSING or queued; every READY
media has its variants; the metrics show the failover.
"""

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pika
import psycopg2
import pytest

from gateway import devkeys
from gateway.localmesh import LocalMesh
from gateway.processes import free_port
from gateway.storage_setup import s3_client
from harness import media_files
from harness.broker import RABBITMQ_URL
from harness.environment import production_mesh
from harness.media_files import small_jpeg
from harness.rest import put
from harness.waiting import wait_for
from tests.support import Scrape

CLIENTS = 3
RETRIES = 10
ENDED = ("READY", "FAILED")


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    def two() -> str:
        return f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"

    with production_mesh(
        tmp_path_factory.mktemp("scaled"),
        MEDIA_SERVICE_UPSTREAMS=two(),
        POST_SERVICE_UPSTREAMS=two(),
        SERVER_PROCESSES="1",
    ) as mesh:
        mesh.start_worker("worker-2")
        yield mesh


@dataclass
class Load:
    """Clients uploading an image and posting it, over and over, each step
    retried while it answers UNAVAILABLE (with the same Idempotency-Key for a post)."""

    gateway: str
    tokens: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    media: list[str] = field(default_factory=list)
    posts: list[str] = field(default_factory=list)
    unavailable: int = 0
    unexpected: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "Load":
        for token in self.tokens:
            thread = threading.Thread(target=self._client, args=(token,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _client(self, token: str) -> None:
        http = httpx.Client(
            base_url=self.gateway, headers={"authorization": f"Bearer {token}"}, timeout=20
        )
        while not self.stop.is_set():
            try:
                self._one_post(http)
            except Exception as error:  # anything but UNAVAILABLE fails the test
                self.unexpected.append(repr(error))
                return

    def _one_post(self, http: httpx.Client) -> None:
        data = small_jpeg(4096)
        declared = {
            "fileName": "p.jpg",
            "fileType": "image/jpeg",
            "fileSize": len(data),
            "mediaType": "post-image",
        }
        session = self._call(lambda: http.post("/api/v1/media/upload-session", json=declared))
        put(session, data)
        media_id = session["mediaId"]
        self._call(lambda: http.post(f"/api/v1/media/{media_id}/complete"))
        self.media.append(media_id)
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"content": "under load", "mediaIds": [media_id]}
        post = self._call(lambda: http.post("/feed/submit", json=body, headers=key))
        self.posts.append(post["postId"])

    def _call(self, send: Callable[[], httpx.Response]) -> dict:
        for attempt in range(RETRIES):
            reply = send()
            if reply.status_code == 200:
                return reply.json()
            assert reply.status_code == 503 and reply.json()["code"] == 14, reply.text
            self.unavailable += 1
            time.sleep(0.1 * (attempt + 1))
        raise AssertionError(f"still unavailable after {RETRIES} attempts")


def test_killed_instances_and_workers_lose_no_upload(scaled: LocalMesh, tmp_path):
    settings = scaled.settings
    tokens = [
        devkeys.mint_token(settings, f"load-{i}-{uuid.uuid4().hex[:6]}") for i in range(CLIENTS)
    ]
    load = Load(settings.gateway_url, tokens).start()
    try:
        wait_for(lambda: len(load.posts) >= 10, "the load to be under way", 60)

        # One media_service instance dies without a word; Envoy routes around it.
        scaled.kill_component("media_service-1")
        killed_at = time.monotonic()
        wait_for(
            lambda: scaled.routed_endpoints()["media_service"] == 1, "Envoy to route around it", 20
        )
        routed_around_s = time.monotonic() - killed_at
        served_before = len(load.posts)
        wait_for(lambda: len(load.posts) >= served_before + 10, "posts on the survivor", 60)

        # The worker holding a job dies in the middle of it; the other takes the job over.
        video, killed_worker = _kill_the_worker_mid_job(scaled, tokens[0], tmp_path)

        scaled.start_instance("media_service-1")
        scaled.start_worker(killed_worker)
        wait_for(lambda: scaled.routed_endpoints()["media_service"] == 2, "the instance back", 30)
        restarted = Scrape(scaled.metrics_url("media_service-1"))
        served_before = len(load.posts)
        wait_for(lambda: len(load.posts) >= served_before + 10, "posts after the restart", 60)
    finally:
        load.finish()

    assert load.unexpected == []
    print(
        f"\nrouted around a killed instance in {routed_around_s:.2f} s; "
        f"{len(load.posts)} posts; {load.unavailable} UNAVAILABLE answers retried"
    )
    _all_settled(scaled, tokens[0], [*load.media, video])
    _nothing_left_behind(scaled, load.media + [video])
    # The failover in the metrics: Envoy saw the dead instance; the restarted
    # one serves again; the surviving worker finished the video.
    stats = _envoy_stats(scaled, "cluster.media_service.")
    assert stats["cluster.media_service.outlier_detection.ejections_enforced_total"] >= 1 or (
        stats["cluster.media_service.health_check.failure"] >= 1
    )
    assert Scrape(scaled.metrics_url("media_service-1")).value(
        "grpc_server_handled_total", grpc_code="OK"
    ) > restarted.value("grpc_server_handled_total", grpc_code="OK")
    survivor = "worker-2" if killed_worker == "worker" else "worker"
    assert (
        Scrape(scaled.metrics_url(survivor)).value(
            "media_processing_jobs_total", kind="video", outcome="READY"
        )
        >= 1
    )


def _envoy_stats(mesh: LocalMesh, prefix: str) -> dict[str, float]:
    text = httpx.get(
        f"{mesh.settings.admin_url}/stats", params={"filter": f"^{prefix}"}, timeout=5
    ).text
    pairs = (line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return {name: float(value) for name, value in pairs if value.replace(".", "").isdigit()}


def _kill_the_worker_mid_job(mesh: LocalMesh, token: str, tmp_path) -> tuple[str, str]:
    """(a video's media id, the worker that was SIGKILLed while processing it)."""
    api = httpx.Client(
        base_url=mesh.settings.gateway_url, headers={"authorization": f"Bearer {token}"}, timeout=20
    )
    for _attempt in range(3):
        # Larger than the video variant: transcoded, seconds of work to interrupt.
        data = media_files.short_video(tmp_path, seconds=6, size="1920x1080")
        declared = {
            "fileName": "v.mp4",
            "fileType": "video/mp4",
            "fileSize": len(data),
            "mediaType": "post-video",
        }
        session = api.post("/api/v1/media/upload-session", json=declared).json()
        put(session, data)
        media_id = session["mediaId"]
        assert api.post(f"/api/v1/media/{media_id}/complete").status_code == 200
        holder = wait_for(
            functools.partial(_processing_in, mesh, media_id), "a worker to take the video", 30
        )
        mesh.kill_component(holder)
        if not _logged(mesh, holder, "processed", media_id):
            return media_id, holder
        mesh.start_worker(holder)  # it finished first: try again with a fresh video
    raise AssertionError("no job could be caught in the middle")


def _processing_in(mesh: LocalMesh, media_id: str) -> str | None:
    for worker in ("worker", "worker-2"):
        if _logged(mesh, worker, "processing", media_id):
            return worker
    return None


def _logged(mesh: LocalMesh, component: str, message: str, media_id: str) -> bool:
    for line in mesh.log_path(component).read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == message and entry.get("media_id") == media_id:
                return True
    return False


def _all_settled(mesh: LocalMesh, token: str, media_ids: list[str]) -> None:
    """Each media READY with its variants stored."""
    database = psycopg2.connect(mesh.settings.database_url)
    database.autocommit = True

    def statuses() -> dict[str, str]:
        with database.cursor() as cursor:
            cursor.execute("SELECT id, status FROM media WHERE id = ANY(%s)", (media_ids,))
            return dict(cursor.fetchall())

    try:
        wait_for(lambda: all(s in ENDED for s in statuses().values()), "every media to settle", 120)
        assert set(statuses().values()) == {"READY"}
        with database.cursor() as cursor:
            cursor.execute("SELECT variants FROM media WHERE id = ANY(%s)", (media_ids,))
            stored = [json.loads(row[0]) for row in cursor.fetchall()]
    finally:
        database.close()
    s3 = s3_client(mesh.settings)
    for variants in stored:
        assert variants, "a READY media without variants"
        for variant in variants:
            s3.head_object(Bucket=mesh.settings.s3_bucket, Key=variant["key"])


def _nothing_left_behind(mesh: LocalMesh, known: list[str]) -> None:
    """No media in a middle state; a session whose reply was lost to the kill
    (the client retried) is PENDING with an expiry, which the janitor ends."""
    with psycopg2.connect(mesh.settings.database_url) as database, database.cursor() as cursor:
        cursor.execute("SELECT id, status, expires_at FROM media WHERE status <> 'READY'")
        rows = cursor.fetchall()
    assert [r for r in rows if r[1] in ("UPLOADED", "PROCESSING")] == []
    assert all(r[1] == "PENDING" and r[2] is not None and r[0] not in known for r in rows), rows
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        queue = mesh.service_env()["PROCESSING_QUEUE"]
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            assert channel.queue_declare(queue=name, passive=True).method.message_count == 0
    finally:
        connection.close()
