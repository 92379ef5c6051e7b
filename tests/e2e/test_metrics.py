"""Prometheus metrics: every process exports what it did (mesh.metrics), the
servers' forked processes added up, and the worker's probes say whether it
can work."""

import sys
import uuid
from urllib.parse import urlparse

import httpx

from gateway import processes
from gateway.processes import free_port
from gateway.settings import ROOT
from harness import media_files
from harness.broker import delete_queues
from harness.media_files import small_jpeg
from harness.rest import Api, put
from harness.waiting import wait_for
from tests.support import Scrape, database_url_through
from tests.tcp_proxy import TcpProxy


def _delta(before: Scrape, url: str, name: str, **labels: str) -> float:
    return Scrape(url).value(name, **labels) - before.value(name, **labels)


def test_media_service_counts_rpcs_by_status_and_uploads_by_outcome(api: Api, mesh):
    url = mesh.metrics_url("media_service")
    before = Scrape(url)

    # Two verified uploads, one rejected, one aborted, one id that names nothing.
    api.upload(small_jpeg(3000))
    api.upload(small_jpeg(5000))
    rejected = api.create_session(small_jpeg(4000)).json()
    put(rejected, b"not a jpeg".ljust(4000, b"!"))
    assert api.complete(rejected["mediaId"]).status_code == 400
    aborted = api.create_session(small_jpeg()).json()
    assert api.http.post(f"/api/v1/media/{aborted['mediaId']}/abort").status_code == 200
    assert api.media("00000000-0000-0000-0000-000000000000").status_code == 404

    complete = {"grpc_service": "media.v1.MediaService", "grpc_method": "CompleteUpload"}
    assert _delta(before, url, "grpc_server_handled_total", **complete, grpc_code="OK") == 2
    not_found = {"grpc_method": "GetMedia", "grpc_code": "NOT_FOUND"}
    assert _delta(before, url, "grpc_server_handled_total", **not_found) == 1
    assert _delta(before, url, "grpc_server_handling_seconds_count", **complete) >= 2
    assert _delta(before, url, "media_uploads_total", outcome="UPLOADED") == 2
    assert _delta(before, url, "media_uploads_total", outcome="ABORTED") == 1
    assert _delta(before, url, "media_uploaded_bytes_total", media_type="post-image") == 8000
    assert _delta(before, url, "media_uploads_total", outcome="REJECTED") == 1
    assert _delta(before, url, "media_upload_rejections_total", reason="CONTENT_MISMATCH") == 1


def test_the_worker_counts_jobs_and_post_service_counts_sagas(api: Api, mesh):
    worker, posts = mesh.metrics_url("worker"), mesh.metrics_url("post_service")
    before_worker, before_posts = Scrape(worker), Scrape(posts)

    media_id = api.upload(media_files.phone_photo(640, 480))["mediaId"]
    wait_for(lambda: api.media(media_id).json()["status"] == "READY", "READY", 60)
    assert api.create_post("with metrics", [media_id]).status_code == 200

    ready = {"kind": "image", "outcome": "READY"}
    wait_for(
        lambda: _delta(before_worker, worker, "media_processing_jobs_total", **ready) == 1,
        "the job counted",
    )
    assert _delta(before_worker, worker, "media_processing_seconds_count", kind="image") == 1
    assert _delta(before_posts, posts, "post_sagas_total", outcome="published") == 1
    create = {"grpc_method": "CreatePost", "grpc_code": "OK"}
    assert _delta(before_posts, posts, "grpc_server_handled_total", **create) == 1
    # The queue's depth, as the broker says (the test's queue is drained).
    depth = Scrape(worker)
    assert [
        s.labels["state"] for s in depth.samples if s.name == "media_processing_queue_messages"
    ] == [
        "ready",
        "delayed",
        "dead",
    ]


def test_the_worker_is_ready_only_while_its_database_answers(mesh, settings, tmp_path):
    database = TcpProxy(urlparse(settings.database_url).port or 5432)
    port = free_port()
    queue = f"media-processing-probes-{uuid.uuid4().hex[:8]}"
    env = {
        **mesh.service_env(),
        "DATABASE_URL": database_url_through(settings.database_url, database.port),
        "WORKER_METRICS_PORT": str(port),
        "PROCESSING_QUEUE": queue,
    }
    worker = processes.start(
        "probed-worker", [sys.executable, "-m", "media_service.worker"], env, ROOT, tmp_path
    )
    ready, live = f"http://127.0.0.1:{port}/readyz", f"http://127.0.0.1:{port}/livez"
    try:
        wait_for(lambda: _status(ready) == 200, "ready", 30)
        assert _status(live) == 200
        database.refuse()
        wait_for(lambda: _status(ready) == 503, "not ready", 20)
        assert _status(live) == 200  # alive: restarting it would not bring the database back
        database.heal()
        wait_for(lambda: _status(ready) == 200, "ready again", 20)
    finally:
        processes.stop(worker)
        database.close()
        delete_queues(queue)


def _status(url: str) -> int:
    """The probe's HTTP status; 0 while nothing listens (the worker starting)."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.ConnectError:
        return 0
