"""WatchMedia end to end: the live status of media, from the worker's commit
to the caller, over native gRPC and grpc-web through the gateway, against the
real mesh (PostgreSQL, RabbitMQ, the worker a separate process)."""

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg2
import pytest

from gateway import processes
from gateway.devkeys import mint_token
from gateway.settings import ROOT
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness import media_files
from harness.media_files import small_jpeg
from harness.rest import Api, put
from harness.waiting import wait_for
from mesh.faults import STALL_SECONDS
from tests.own_services import own_media_service
from tests.support import Watching, grpc_web_frame, grpc_web_frames, status_of

FLOW = ["PENDING", "UPLOADED", "PROCESSING", "READY"]
STREAMS_PER_USER = 10


@pytest.fixture
def token(settings, user) -> str:
    return mint_token(settings, user)


@pytest.fixture
def gateway(settings) -> str:
    return f"127.0.0.1:{settings.gateway_port}"


def _session(api: Api, data: bytes) -> dict[str, Any]:
    reply = api.create_session(data)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _finish(api: Api, session: dict[str, Any], data: bytes) -> None:
    put(session, data)
    reply = api.complete(session["mediaId"])
    assert reply.status_code == 200, reply.text


def test_a_watcher_opened_before_complete_sees_every_status_in_order(api, token, gateway):
    data = small_jpeg()
    session = _session(api, data)
    watching = Watching(gateway, token, [session["mediaId"]])
    watching.wait_first()

    _finish(api, session, data)

    watching.wait_end()
    assert watching.error is None, watching.error
    assert watching.statuses == FLOW
    ready = watching.events[-1].media
    assert ready.media_id == session["mediaId"]
    assert (ready.width, ready.height) == (16, 16)
    assert [v.name for v in ready.variants] == ["thumb", "large"]
    assert watching.call.code() == grpc.StatusCode.OK


def test_a_corrupt_file_is_watched_to_failed_with_its_reason(api, token, gateway):
    data = media_files.truncated_jpeg()
    session = _session(api, data)
    watching = Watching(gateway, token, [session["mediaId"]])
    watching.wait_first()

    _finish(api, session, data)

    watching.wait_end()
    assert watching.statuses == ["PENDING", "UPLOADED", "PROCESSING", "FAILED"]
    failed = watching.events[-1].media
    assert failed.failure_reason == "the image cannot be decoded: the file is truncated"


def test_settled_media_are_sent_once_and_the_stream_ends(api, token, gateway):
    media_id = api.upload(small_jpeg())["mediaId"]
    wait_for(lambda: api.media(media_id).json()["status"] == "READY", "READY")

    watching = Watching(gateway, token, [media_id])

    watching.wait_end(timeout=20)
    assert watching.error is None
    assert watching.statuses == ["READY"]


def test_one_stream_follows_several_media_to_their_ends(api, token, gateway):
    good, corrupt = small_jpeg(), media_files.truncated_jpeg()
    sessions = [_session(api, good), _session(api, corrupt)]
    ids = [s["mediaId"] for s in sessions]
    watching = Watching(gateway, token, ids)
    wait_for(lambda: len(watching.events) == 2, "the current state of both")
    assert [e.media.media_id for e in watching.events] == ids

    _finish(api, sessions[0], good)
    _finish(api, sessions[1], corrupt)

    watching.wait_end()
    last = {e.media.media_id: status_of(e) for e in watching.events}
    assert last == {ids[0]: "READY", ids[1]: "FAILED"}


def test_grpc_web_carries_the_stream_frame_by_frame(api, settings, token):
    data = small_jpeg()
    session = _session(api, data)
    request = media_pb2.WatchMediaRequest(media_ids=[session["mediaId"]]).SerializeToString()
    frames: list[tuple[int, bytes]] = []
    replies: list[httpx.Response] = []

    def read() -> None:
        with httpx.stream(
            "POST",
            f"{settings.gateway_url}/media.v1.MediaService/WatchMedia",
            content=grpc_web_frame(request),
            headers={
                "content-type": "application/grpc-web+proto",
                "x-grpc-web": "1",
                "authorization": f"Bearer {token}",
            },
            timeout=60,
        ) as reply:
            replies.append(reply)
            for frame in grpc_web_frames(reply.iter_bytes()):
                frames.append(frame)  # seen by the test as it arrives

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: frames, "the first grpc-web frame")
    _finish(api, session, data)
    reader.join(60)

    assert replies[0].status_code == 200
    assert replies[0].headers["content-type"] == "application/grpc-web+proto"
    *messages, (trailer_flag, trailer) = frames
    assert all(flag == 0 for flag, _ in messages)
    events = [media_pb2.MediaEvent.FromString(body) for _, body in messages]
    assert [status_of(e) for e in events if not e.keep_alive] == FLOW
    assert trailer_flag == 0x80
    trailers = dict(line.split(":", 1) for line in trailer.decode().split("\r\n") if line)
    assert trailers["grpc-status"] == "0"


def test_watchers_on_two_media_service_processes_both_see_the_workers_commit(
    api, mesh, token, gateway, tmp_path
):
    data = small_jpeg()
    session = _session(api, data)
    with own_media_service(mesh, tmp_path) as (own_address, _child):
        at_gateway = Watching(gateway, token, [session["mediaId"]])
        at_own_process = Watching(own_address, token, [session["mediaId"]])
        at_gateway.wait_first()
        at_own_process.wait_first()

        _finish(api, session, data)

        at_gateway.wait_end()
        at_own_process.wait_end()
    assert at_gateway.statuses == FLOW
    assert at_own_process.statuses == FLOW


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], "mediaIds is required: name 1 to 50 media to watch"),
        (
            [str(uuid.uuid4()) for _ in range(51)],
            "at most 50 mediaIds may be watched at once, got 51",
        ),
        (["a", "a"], "mediaIds contains duplicates"),
        (["x" * 37], "mediaIds is longer than 36 characters"),
    ],
)
def test_a_bad_list_of_ids_is_refused_with_what_is_wrong(token, gateway, ids, message):
    watching = Watching(gateway, token, ids)

    watching.wait_end(timeout=20)
    assert watching.events == []
    assert watching.refusal.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert watching.refusal.details() == message


def _open_streams(database_url: str, user: str) -> int:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM media_watches WHERE user_id = %s", (user,))
        return int(cursor.fetchone()[0])


def test_another_users_media_is_not_found_and_holds_no_stream(
    api, other_api, settings, token, gateway, user
):
    mine = _session(api, small_jpeg())["mediaId"]
    theirs = _session(other_api, small_jpeg())["mediaId"]

    watching = Watching(gateway, token, [mine, theirs])

    watching.wait_end(timeout=20)
    assert watching.events == []
    assert watching.refusal.code() == grpc.StatusCode.NOT_FOUND
    assert watching.refusal.details() == f"media {theirs} not found"
    assert _open_streams(settings.database_url, user) == 0


@pytest.mark.parametrize("target", ["gateway", "service"])
def test_a_stream_without_a_valid_token_is_unauthenticated(api, settings, target):
    media_id = _session(api, small_jpeg())["mediaId"]
    port = settings.gateway_port if target == "gateway" else settings.media_port

    watching = Watching(f"127.0.0.1:{port}", "not-a-token", [media_id])

    watching.wait_end(timeout=20)
    assert watching.events == []
    assert watching.refusal.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_eleventh_stream_of_a_user_is_refused_until_one_is_cancelled(
    api, settings, token, gateway, user
):
    media_id = _session(api, small_jpeg())["mediaId"]
    streams = [Watching(gateway, token, [media_id]) for _ in range(STREAMS_PER_USER)]
    try:
        for stream in streams:
            stream.wait_first()
            assert stream.error is None
        assert _open_streams(settings.database_url, user) == STREAMS_PER_USER

        eleventh = Watching(gateway, token, [media_id])
        eleventh.wait_end(timeout=20)
        assert eleventh.refusal.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert eleventh.refusal.details() == (
            "at most 10 WatchMedia streams may be open at once; "
            "close one (or wait for one to end) first"
        )
        # another user is not held back by this one
        other_token = mint_token(settings, f"other-{uuid.uuid4().hex[:8]}")
        other = _session(Api(settings.gateway_url, other_token), small_jpeg())["mediaId"]
        theirs = Watching(gateway, other_token, [other])
        theirs.wait_first()
        assert theirs.error is None and theirs.statuses == ["PENDING"]
        theirs.close()

        # a cancelled stream gives its slot back
        streams.pop().close()
        wait_for(
            lambda: _open_streams(settings.database_url, user) == STREAMS_PER_USER - 1,
            "the cancelled stream's slot to be released",
        )
        replacement = Watching(gateway, token, [media_id])
        replacement.wait_first()
        assert replacement.error is None and replacement.statuses == ["PENDING"]
        streams.append(replacement)
    finally:
        for stream in streams:
            stream.close()
    wait_for(lambda: _open_streams(settings.database_url, user) == 0, "every slot released")


def _logged_rpc(mesh, request_id: str) -> dict[str, Any] | None:
    """media_service's log line for the call with `request_id`, once written."""
    for line in mesh.log_path("media_service").read_text().splitlines():
        if request_id in line and '"rpc"' in line:
            return json.loads(line)
    return None


def test_the_stream_is_logged_with_its_outcome(api, mesh, token, gateway):
    media_id = api.upload(small_jpeg())["mediaId"]
    wait_for(lambda: api.media(media_id).json()["status"] == "READY", "READY")
    request_id = f"watch-{uuid.uuid4().hex}"
    channel = grpc.insecure_channel(gateway)
    call = media_pb2_grpc.MediaServiceStub(channel).WatchMedia(
        media_pb2.WatchMediaRequest(media_ids=[media_id]),
        metadata=(
            ("authorization", f"Bearer {token}"),
            ("x-request-id", request_id),
        ),
        timeout=20,
    )
    assert [status_of(e) for e in call] == ["READY"]

    entry = wait_for(lambda: _logged_rpc(mesh, request_id), "the stream's log line")
    assert entry["method"] == "/media.v1.MediaService/WatchMedia"
    assert entry["status"] == "OK"


def test_a_cancelled_stream_is_logged_as_cancelled(api, mesh, token, gateway):
    media_id = _session(api, small_jpeg())["mediaId"]
    request_id = f"watch-{uuid.uuid4().hex}"
    channel = grpc.insecure_channel(gateway)
    call = media_pb2_grpc.MediaServiceStub(channel).WatchMedia(
        media_pb2.WatchMediaRequest(media_ids=[media_id]),
        metadata=(
            ("authorization", f"Bearer {token}"),
            ("x-request-id", request_id),
        ),
        timeout=20,
    )
    assert status_of(next(call)) == "PENDING"

    call.cancel()

    entry = wait_for(lambda: _logged_rpc(mesh, request_id), "the stream's log line")
    assert entry["status"] == "CANCELLED"


def test_a_stream_outlives_a_long_job_with_keep_alives_through_the_gateway(
    api, mesh, token, gateway, tmp_path
):
    """A job longer than any unary route timeout and than the stream idle
    timeout: the stream carries keep-alives and ends with READY, uncut."""
    mesh.stop_component("worker")
    env = {**mesh.service_env(), "PROCESSING_FAULT": "stall-after-claimed"}
    slow = processes.start(
        "slow-worker", [sys.executable, "-m", "media_service.worker"], env, ROOT, tmp_path
    )
    try:
        data = small_jpeg()
        session = _session(api, data)
        watching = Watching(gateway, token, [session["mediaId"]], timeout=STALL_SECONDS + 60)
        watching.wait_first()
        started = time.monotonic()
        _finish(api, session, data)

        watching.wait_end(timeout=STALL_SECONDS + 45)
    finally:
        processes.stop(slow)
        mesh.start_worker()
    assert watching.error is None, watching.error
    assert watching.statuses == FLOW
    assert time.monotonic() - started >= STALL_SECONDS
    keep_alives = [e for e in watching.events if e.keep_alive]
    assert len(keep_alives) >= 3  # one per 10 s of the 40 s job


def test_grpcurl_watches_through_the_gateway(api, token, gateway):
    media_id = api.upload(small_jpeg())["mediaId"]
    wait_for(lambda: api.media(media_id).json()["status"] == "READY", "READY")

    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "grpcurl"),
            "-plaintext",
            "-H",
            f"authorization: Bearer {token}",
            "-d",
            json.dumps({"mediaIds": [media_id]}),
            gateway,
            "media.v1.MediaService/WatchMedia",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout)  # one event: the media, already settled
    assert (event["media"]["mediaId"], event["media"]["status"]) == (media_id, "READY")


def test_a_draining_server_ends_its_streams_at_once_for_clients_to_reopen(
    api, mesh, token, tmp_path
):
    media_id = _session(api, small_jpeg())["mediaId"]
    with own_media_service(mesh, tmp_path, SHUTDOWN_GRACE_SECONDS="30") as (address, child):
        watching = Watching(address, token, [media_id])
        watching.wait_first()
        started = time.monotonic()

        child.process.send_signal(signal.SIGTERM)

        watching.wait_end(timeout=10)
        assert time.monotonic() - started < 10  # not held until the grace period ends
        assert watching.refusal.code() == grpc.StatusCode.UNAVAILABLE
        assert watching.refusal.details() == "this server is shutting down; open the stream again"
        assert child.process.wait(timeout=20) == 0
    assert watching.statuses == ["PENDING"]
