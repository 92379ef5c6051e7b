"""The Python client and its CLI against the real mesh.

The CLI runs as a user runs it: a separate process, the token in
MEDIA_TOKEN, its resume records in a cache directory of the test's own.
Tests that need to see or break the PUTs run a media_service of their own
whose storage endpoint is a tap in front of the S3 server (tests.storage_tap),
and point the client straight at it. Tests of following a media see the calls
the client makes through an interceptor of its own (CallLog).
"""

import fcntl
import io
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest

from gateway.devkeys import mint_token
from gateway.settings import ROOT
from genproto.media.v1 import media_pb2
from harness.media_files import fake_mp4, padded_video, small_jpeg, write_fake_mp4
from harness.rest import Api, put
from harness.waiting import wait_for
from media_client import ApiError, FileRefused, MediaClient
from media_client.resume import ResumeStore
from tests.own_services import tapped_media_service
from tests.storage_tap import StorageTap
from tests.tcp_proxy import TcpProxy

MIB = 1024 * 1024
Status = media_pb2.MediaStatus
# Runs a command and prints its peak RSS (KiB) as the last line on stderr. A
# small parent of its own: a child's peak counts the memory of the process it
# was forked from (pytest's, here) until it execs.
PEAK_RSS = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(usage.ru_maxrss, file=sys.stderr)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_cli(
    token: str, gateway: str, cache: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "media_client", *args],
        env=_cli_env(token, gateway, cache),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def _cli_env(token: str, gateway: str, cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MEDIA_TOKEN": token,
        "MEDIA_GATEWAY": gateway,
        "XDG_CACHE_HOME": str(cache),
    }


def start_cli(token: str, gateway: str, cache: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "media_client", *args],
        env=_cli_env(token, gateway, cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def one_json_line(stdout: str) -> dict:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


@pytest.fixture
def token(settings, user) -> str:
    return mint_token(settings, user)


@pytest.fixture
def client(settings, token, tmp_path) -> Iterator[MediaClient]:
    with MediaClient(
        settings.gateway_url, token, resume_store=ResumeStore(tmp_path / "resume")
    ) as client:
        yield client


@pytest.fixture
def tapped(mesh, tmp_path) -> Iterator[tuple[str, StorageTap]]:
    with tapped_media_service(mesh, tmp_path) as running:
        yield running


def test_a_photo_uploads_waits_for_ready_and_is_posted(settings, client, token, tmp_path):
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(small_jpeg(40_000))

    done = run_cli(
        token,
        settings.gateway_url,
        tmp_path,
        "upload",
        str(photo),
        "--wait",
        "--post",
        "At the beach",
    )

    assert done.returncode == 0, done.stderr
    line = one_json_line(done.stdout)
    assert set(line) == {"mediaId", "cdnUrl", "status", "postId"}
    assert line["status"] == "READY"
    assert httpx.get(line["cdnUrl"]).content == photo.read_bytes()
    media = client.get(line["mediaId"])
    assert (media.post_id, media.file_name, media.file_type) == (
        line["postId"],
        "beach.jpg",
        "image/jpeg",
    )


def test_on_a_terminal_a_progress_bar_shows_bytes_rate_and_time_left(settings, token, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(fake_mp4(12 * MIB))
    controller, terminal = pty.openpty()
    # rows, columns: a new pseudo-terminal is 0 wide, which leaves a bar no room
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        cli = subprocess.Popen(
            [sys.executable, "-m", "media_client", "upload", str(video)],
            env=_cli_env(token, settings.gateway_url, tmp_path),
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            cwd=ROOT,
        )
        os.close(terminal)
        shown = _read_all(controller)
        stdout, _ = cli.communicate(timeout=60)
    finally:
        os.close(controller)

    assert cli.returncode == 0
    assert one_json_line(stdout)["mediaId"]  # stdout carries only the result
    last = shown.replace("\r", "\n").strip().splitlines()[-1]
    # e.g. "…/clip.mp4: 100%|██████████| 12.0M/12.0M [00:00<00:00, 41.2MB/s]"
    assert re.search(r"100%\|.*\| 12\.0M/12\.0M \[\d\d:\d\d<\d\d:\d\d, +[\d.]+[kMG]?B/s\]", last), (
        last
    )


def _read_all(fd: int) -> str:
    """Everything written to a terminal until its last writer closes it."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: no writer is left
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_waiting_for_a_media_that_fails_processing_exits_1_with_the_reason(
    settings, token, tmp_path
):
    clip = tmp_path / "broken.mp4"
    clip.write_bytes(fake_mp4(64 * 1024))  # MP4 boxes around random bytes: no video in it

    done = run_cli(token, settings.gateway_url, tmp_path, "upload", str(clip), "--wait")

    assert done.returncode == 1
    assert one_json_line(done.stdout)["status"] == "FAILED"
    (reason,) = done.stderr.splitlines()
    assert reason.startswith("error: processing failed: the video cannot be read")


def test_a_12_mb_video_goes_up_in_parallel_parts_byte_identical(client, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(padded_video(tmp_path, 12 * MIB))
    reports: list[tuple[int, int]] = []

    media = client.upload(
        video, concurrency=4, progress=lambda sent, total: reports.append((sent, total))
    )

    assert media.media_type == "post-video" and media.file_type == "video/mp4"
    assert media.status in (media_pb2.UPLOADED, media_pb2.PROCESSING, media_pb2.READY)
    assert httpx.get(media.cdn_url).content == video.read_bytes()
    assert reports[-1] == (12 * MIB, 12 * MIB)
    assert client.wait_ready(media.media_id, timeout=60).status == media_pb2.READY


def test_a_file_object_uploads_too(client):

    data = small_jpeg(4096)
    media = client.upload(io.BytesIO(data), "avatar")
    assert media.media_type == "avatar"
    assert httpx.get(media.cdn_url).content == data


def test_an_html_file_named_jpg_is_refused_locally_and_no_session_is_made(
    settings, token, client, tmp_path
):
    page = tmp_path / "photo.jpg"
    page.write_bytes(b"<!DOCTYPE html><html><body>not a photo</body></html>")

    done = run_cli(token, settings.gateway_url, tmp_path, "upload", str(page))

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: {page}: content is HTML, not an image or video "
        "(image/jpeg, image/png, image/gif, image/webp, image/heic, video/mp4, video/quicktime, video/webm)"
    ]
    assert list(client.list()) == []


def test_a_file_over_its_media_types_limit_is_refused_before_any_request(client, tmp_path):
    big = tmp_path / "me.jpg"
    big.write_bytes(small_jpeg(5 * MIB + 1))
    with pytest.raises(
        FileRefused, match=rf"{big}: 5242881 bytes is over the 5242880 bytes avatar allows"
    ):
        client.upload(big, "avatar")
    assert list(client.list()) == []


def test_a_refusal_carries_the_status_the_message_and_the_error_info(
    settings, token, client, tmp_path
):
    with pytest.raises(ApiError) as raised:
        client.get("no-such-media")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert raised.value.info is not None and raised.value.info.reason == "MEDIA_NOT_FOUND"
    assert raised.value.info.domain == "media-mesh"
    assert raised.value.reason == "MEDIA_NOT_FOUND"
    assert raised.value.metadata == {"mediaId": "no-such-media"}

    done = run_cli(token, settings.gateway_url, tmp_path, "get", "no-such-media")
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: refused: {raised.value.message} (NOT_FOUND)"


def test_no_token_is_a_usage_error(settings, tmp_path):
    done = run_cli("", settings.gateway_url, tmp_path, "list")
    assert done.returncode == 2
    assert "no token: set MEDIA_TOKEN" in done.stderr


def test_killed_mid_upload_the_same_command_sends_only_the_missing_parts(
    tapped, token, client, tmp_path
):
    address, tap = tapped
    video = tmp_path / "long.mp4"
    video.write_bytes(fake_mp4(30 * MIB))  # four parts of 8 MiB (the last 6 MiB)
    command = ["upload", str(video), "--concurrency", "1"]
    # Given a first run that has stored two parts and is sending the third
    tap.hold_puts_after(2)
    first = start_cli(token, address, tmp_path, *command)
    try:
        wait_for(lambda: tap.held, "the third part on its way", timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    tap.release(cut=True)  # what was on its way dies with the client
    assert tap.part_puts == [1, 2]

    # When the same command runs again
    second = run_cli(token, address, tmp_path, *command)

    # Then it sends only the two missing parts and completes the same media
    assert second.returncode == 0, second.stderr
    assert sorted(tap.part_puts[2:]) == [3, 4]
    assert "2 of 4 parts already stored" in second.stderr
    line = one_json_line(second.stdout)
    assert [m.media_id for m in client.list()] == [line["mediaId"]]  # no second session
    assert httpx.get(line["cdnUrl"]).content == video.read_bytes()


def test_ctrl_c_stops_at_once_and_an_upload_aborted_since_starts_afresh_saying_so(
    tapped, token, client, tmp_path
):
    address, tap = tapped
    video = tmp_path / "clip.mp4"
    video.write_bytes(fake_mp4(20 * MIB))
    command = ["upload", str(video), "--concurrency", "1"]
    tap.hold_puts_after(1)
    first = start_cli(token, address, tmp_path, *command)
    wait_for(lambda: tap.held, "the second part on its way", timeout=60)

    # Ctrl-C while a part is stuck on the link: the CLI ends now, not when the PUT gives up
    first.send_signal(signal.SIGINT)
    stdout, stderr = first.communicate(timeout=10)
    assert first.returncode == 130
    assert (stdout, stderr) == ("", "interrupted: the same command resumes the upload\n")
    tap.release(cut=True)

    # The upload is aborted meanwhile (say, from another device)
    (pending,) = client.list()
    client.abort(pending.media_id)

    second = run_cli(token, address, tmp_path, *command)
    assert second.returncode == 0, second.stderr
    assert second.stderr.splitlines() == [
        f"the saved upload cannot be resumed (media {pending.media_id} is ABORTED; "
        "only a PENDING upload can be resumed): starting afresh"
    ]
    line = one_json_line(second.stdout)
    assert line["mediaId"] != pending.media_id
    assert httpx.get(line["cdnUrl"]).content == video.read_bytes()


def test_storage_down_mid_upload_exits_3_and_the_same_command_resumes_once_it_is_back(
    tapped, token, client, tmp_path
):
    address, tap = tapped
    video = tmp_path / "clip.mp4"
    video.write_bytes(fake_mp4(20 * MIB))  # three parts
    command = ["upload", str(video), "--concurrency", "1"]
    tap.hold_puts_after(1)
    first = start_cli(token, address, tmp_path, *command)
    wait_for(lambda: tap.held, "the second part on its way", timeout=60)
    tap.down()
    tap.release()
    stdout, stderr = first.communicate(timeout=60)

    assert first.returncode == 3, stderr
    assert stdout == ""
    assert (
        stderr.strip().splitlines()[-1].startswith("error: storage did not answer after 4 attempts")
    )

    tap.up()
    second = run_cli(token, address, tmp_path, *command)
    assert second.returncode == 0, second.stderr
    assert tap.part_puts[0] == 1 and sorted(tap.part_puts[1:]) == [2, 3]
    line = one_json_line(second.stdout)
    assert [m.media_id for m in client.list()] == [line["mediaId"]]


def test_failed_and_expired_part_puts_are_retried_with_a_fresh_url(
    tapped, token, tmp_path, settings
):
    address, tap = tapped
    video = tmp_path / "clip.mp4"
    video.write_bytes(fake_mp4(12 * MIB))
    tap.fail_next_puts(503, 1)
    tap.fail_next_puts(403, 1)  # the URL has expired: only a fresh one will do
    with MediaClient(address, token, resume_store=ResumeStore(tmp_path)) as client:
        media = client.upload(video, concurrency=1)
    assert sorted(tap.part_puts) == [1, 2]
    assert httpx.get(media.cdn_url).content == video.read_bytes()


def test_a_200_mb_upload_keeps_memory_flat(settings, token, client, tmp_path):
    video = tmp_path / "big.mp4"
    write_fake_mp4(video, 200 * MIB)

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_RSS,
            sys.executable,
            "-m",
            "media_client",
            "upload",
            str(video),
        ],
        env=_cli_env(token, settings.gateway_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )

    *stderr, peak = done.stderr.splitlines()
    assert done.returncode == 0, stderr
    peak_mib = int(peak) / 1024
    assert peak_mib < 100, f"peak RSS {peak_mib:.0f} MiB"
    stdout = done.stdout
    media_id = json.loads(stdout)["mediaId"]
    assert client.get(media_id).file_size == 200 * MIB
    client.delete(media_id)


class CallLog(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """The methods a client calls, by name, in order. A method in `renamed` is
    sent under another name, one the server does not know: it answers
    UNIMPLEMENTED, as a server older than the method does."""

    def __init__(self, renamed: dict[str, str] | None = None) -> None:
        self.methods: list[str] = []
        self.renamed = renamed or {}

    def intercept_unary_unary(self, continuation, details, request):
        return self._call(continuation, details, request)

    def intercept_unary_stream(self, continuation, details, request):
        return self._call(continuation, details, request)

    def _call(self, continuation, details, request):
        service, method = details.method.rsplit("/", 1)
        self.methods.append(method)
        if method in self.renamed:
            details = details._replace(method=f"{service}/{self.renamed[method]}")
        return continuation(details, request)


def logged_client(target: str, token: str, tmp_path: Path, log: CallLog) -> MediaClient:
    return MediaClient(
        target, token, resume_store=ResumeStore(tmp_path / "resume"), interceptors=[log]
    )


def finish_upload(api: Api, session: dict, data: bytes) -> None:
    """PUT the session's bytes straight to storage and complete it."""
    put(session, data)
    completed = api.complete(session["mediaId"])
    assert completed.status_code == 200, completed.text


def test_watch_follows_a_media_from_its_session_to_ready(client, api):
    data = small_jpeg(20_000)
    session = api.create_session(data).json()

    # Given a watch on a media whose session was just issued
    changes = client.watch([session["mediaId"]], timeout=60)
    assert next(changes).status == Status.PENDING

    # When its bytes are stored and the upload completed
    finish_upload(api, session, data)

    # Then each state follows, in order, and the stream ends at READY
    assert [Status.Name(media.status) for media in changes] == ["UPLOADED", "PROCESSING", "READY"]


def test_wait_ready_follows_the_stream_and_never_polls(settings, token, api, tmp_path):
    log = CallLog()
    data = small_jpeg(20_000)
    session = api.create_session(data).json()
    with (
        logged_client(settings.gateway_url, token, tmp_path, log) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        # Given a wait that began while the media was PENDING
        waiting = pool.submit(client.wait_ready, session["mediaId"], 60)
        wait_for(lambda: log.methods, "the wait to call")

        # When the upload completes and is processed
        finish_upload(api, session, data)

        # Then the wait ends READY, having made one call: the stream
        assert waiting.result(60).status == Status.READY
    assert log.methods == ["WatchMedia"]


def test_wait_ready_polls_where_the_server_does_not_know_watch_media(
    settings, token, api, tmp_path
):
    log = CallLog(renamed={"WatchMedia": "NoSuchMethod"})
    data = small_jpeg(20_000)
    session = api.create_session(data).json()
    with (
        logged_client(settings.gateway_url, token, tmp_path, log) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        with pytest.raises(ApiError) as refused:
            next(client.watch([session["mediaId"]]))
        assert refused.value.code == grpc.StatusCode.UNIMPLEMENTED
        log.methods.clear()

        waiting = pool.submit(client.wait_ready, session["mediaId"], 60)
        wait_for(lambda: "GetMedia" in log.methods, "the wait to poll")
        finish_upload(api, session, data)

        assert waiting.result(60).status == Status.READY
    first, *polls = log.methods
    assert first == "WatchMedia"
    assert len(polls) >= 2 and set(polls) == {"GetMedia"}, log.methods


def test_a_watch_whose_connection_is_cut_is_reopened_and_carries_on(settings, token, api, tmp_path):
    log = CallLog()
    proxy = TcpProxy(settings.gateway_port)
    data = small_jpeg(20_000)
    session = api.create_session(data).json()
    try:
        with logged_client(f"127.0.0.1:{proxy.port}", token, tmp_path, log) as client:
            changes = client.watch([session["mediaId"]], timeout=60)
            assert next(changes).status == Status.PENDING

            # The connection to the gateway is cut; the gateway stays up
            proxy.refuse()
            proxy.heal()
            finish_upload(api, session, data)

            # The reopened stream starts from the state the media has reached
            # by then: never PENDING again, and on to READY
            after = [Status.Name(media.status) for media in changes]
    finally:
        proxy.close()
    assert after in (["UPLOADED", "PROCESSING", "READY"], ["PROCESSING", "READY"], ["READY"])
    assert log.methods == ["WatchMedia", "WatchMedia"]


def test_wait_ready_polls_while_the_user_has_every_stream_open(
    settings, token, api, client, tmp_path
):
    data = small_jpeg(20_000)
    session = api.create_session(data).json()
    # Given the user's ten streams all open, following a PENDING media
    watches = [client.watch([session["mediaId"]], timeout=60) for _ in range(10)]
    assert {next(changes).status for changes in watches} == {Status.PENDING}
    with pytest.raises(ApiError) as refused:
        next(client.watch([session["mediaId"]]))
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    log = CallLog()
    with (
        logged_client(settings.gateway_url, token, tmp_path, log) as other,
        ThreadPoolExecutor(1) as pool,
    ):
        # When one more waits for it
        waiting = pool.submit(other.wait_ready, session["mediaId"], 60)
        wait_for(lambda: "GetMedia" in log.methods, "the wait to poll")
        finish_upload(api, session, data)

        # Then it polls instead, and sees READY all the same
        assert waiting.result(60).status == Status.READY
    first, *polls = log.methods
    assert first == "WatchMedia" and set(polls) == {"GetMedia"}, log.methods
    for changes in watches:  # and the ten streams end by themselves at READY
        assert [media.status for media in changes][-1] == Status.READY
