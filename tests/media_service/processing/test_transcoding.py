"""The playable `video` variant on local files, with the real ffmpeg: what is
encoded and what is only remuxed, what the output is, its progress, its time
limit, and inputs that try to make ffmpeg read something else."""

import errno
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import media_files
from media_service.processing import ffmpeg, transcoding
from media_service.processing.ffmpeg import VideoLimits, run_with_progress
from media_service.processing.images import Undecodable
from media_service.processing.videos import process_video
from tests.support import assert_plays_everywhere, probe_video, streams_of

LIMITS = VideoLimits(max_pixels=8192 * 4320, timeout_seconds=120)


def test_a_1080p_clip_is_encoded_to_720p_h264_that_plays_everywhere(tmp_path):
    original = media_files.camera_video(tmp_path, seconds=10, size="1920x1080")
    seen: list[float] = []

    result = process_video(original, tmp_path, "video/mp4", LIMITS, seen.append)

    assert not result.remuxed
    assert_plays_everywhere(result.video.path, (1280, 720), 10)
    assert result.video.path.name == "720p.mp4"
    assert (result.video.width, result.video.height) == (1280, 720)
    assert result.video.duration_ms is not None
    assert abs(result.video.duration_ms - 10_000) < 200
    assert result.video.content_type == "video/mp4"
    assert seen and seen == sorted(seen) and 0 < seen[-1] <= 1


def test_a_rotated_hevc_phone_clip_is_encoded_upright(tmp_path):
    original = media_files.camera_video(
        tmp_path, seconds=3, size="1280x720", codec="libx265", suffix=".mov", rotation=90
    )

    result = process_video(original, tmp_path, "video/quicktime", LIMITS)

    assert (result.width, result.height) == (720, 1280)
    assert_plays_everywhere(result.video.path, (720, 1280), 3)


def test_a_small_video_is_never_scaled_up(tmp_path):
    original = media_files.camera_video(tmp_path, seconds=2, size="320x240", codec="libx265")

    result = process_video(original, tmp_path, "video/mp4", LIMITS)

    assert not result.remuxed  # HEVC: encoded, at its own size
    assert (result.video.width, result.video.height) == (320, 240)


def _timed_transcode(original: Path, out_dir: Path) -> tuple[bool, float]:
    out_dir.mkdir()
    started = time.perf_counter()
    result = process_video(original, out_dir, "video/mp4", LIMITS)
    return result.remuxed, time.perf_counter() - started


def test_a_compliant_mp4_is_remuxed_much_faster_than_an_encode(tmp_path, monkeypatch):
    original = media_files.camera_video(tmp_path, seconds=20, size="1280x720", quality=42)

    remuxed, remux_seconds = _timed_transcode(original, tmp_path / "remux")
    monkeypatch.setattr(transcoding, "is_compliant", lambda source: False)
    encoded, encode_seconds = _timed_transcode(original, tmp_path / "encode")

    assert remuxed and not encoded
    assert remux_seconds < encode_seconds / 3, (remux_seconds, encode_seconds)
    remux = tmp_path / "remux" / "720p.mp4"
    assert_plays_everywhere(remux, (1280, 720), 20, profile="Constrained Baseline")
    [before] = streams_of(probe_video(original), "video")
    [after] = streams_of(probe_video(remux), "video")
    assert after["bit_rate"] == before["bit_rate"]  # the very same pictures


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("codec_name", "hevc"),
        ("pix_fmt", "yuv422p"),
        ("profile", "High 4:4:4 Predictive"),
        ("width", 1920),
        ("avg_frame_rate", "120/1"),
    ],
)
def test_what_is_not_compliant_is_encoded(change, value):
    video = {
        "index": 0,
        "codec_name": "h264",
        "pix_fmt": "yuv420p",
        "profile": "High",
        "width": 1280,
        "height": 720,
        "avg_frame_rate": "30/1",
    }
    source = transcoding.Source(
        container=ffmpeg.CONTAINERS["video/mp4"],
        file_type="video/mp4",
        video=video,
        audio=[{"codec_name": "aac"}],
        duration=10,
        rotation=0,
        bit_rate=1_000_000,
    )
    assert transcoding.is_compliant(source)
    assert not transcoding.is_compliant(
        transcoding.Source(**{**source.__dict__, "video": {**video, change: value}})
    )
    for other in ({"rotation": 90}, {"bit_rate": 8_000_000}, {"audio": [{"codec_name": "mp3"}]}):
        assert not transcoding.is_compliant(transcoding.Source(**{**source.__dict__, **other}))


def test_a_run_past_its_time_limit_is_stopped_and_says_so():
    started = time.monotonic()

    with pytest.raises(Undecodable, match=r"took longer than 0\.5 s"):
        run_with_progress(["sleep", "30"], 0.5, 10, lambda _: None)

    assert time.monotonic() - started < 5


def test_the_time_limit_grows_with_the_duration(tmp_path, monkeypatch):
    limits: list[float] = []
    real = ffmpeg.run_with_progress

    def recorded(argv, timeout, duration, progress):
        limits.append(timeout)
        return real(argv, timeout, duration, progress)

    monkeypatch.setattr(transcoding, "run_with_progress", recorded)
    original = media_files.camera_video(tmp_path, seconds=2, size="320x240")

    process_video(original, tmp_path, "video/mp4", VideoLimits(8192 * 4320, timeout_seconds=1))

    assert limits == [2 * transcoding.SECONDS_PER_SECOND]


class _Listener:
    """A local TCP port that tells whether anything connected: the kernel
    completes a connection's handshake whether or not it is accepted yet."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]

    def was_connected(self) -> bool:
        try:
            connection, _ = self.server.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True

    def close(self) -> None:
        self.server.close()


class _Fifo:
    """A named pipe that records whether anyone opened it to read. A reader's
    open blocks until a writer comes; this one tries every few milliseconds,
    and its non-blocking open succeeds only while a reader waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self.done.is_set():
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
                self.opened.set()
            except OSError as error:
                assert error.errno == errno.ENXIO  # no reader: not opened
            time.sleep(0.005)


@pytest.fixture
def listener():
    running = _Listener()
    yield running
    running.close()


@pytest.fixture
def fifo(tmp_path):
    watched = _Fifo(tmp_path / "secret.ts")
    yield watched
    watched.done.set()


def test_the_fifo_and_the_listener_do_see_ffmpeg_when_it_follows_a_playlist(
    tmp_path, fifo, listener
):
    """The proof below is live: left to guess the format, ffmpeg follows a
    playlist to a file it names, and to a URL where the protocols allow it."""
    segments = {"file": str(fifo.path), "http": f"http://127.0.0.1:{listener.port}/segment.ts"}
    for protocols, segment in (("file", segments["file"]), ("file,http,tcp", segments["http"])):
        playlist = tmp_path / "guessed.m3u8"
        playlist.write_bytes(media_files.hls_playlist(segment))
        subprocess.run(
            ["ffprobe", "-v", "quiet", "-rw_timeout", "500000"]
            + ["-protocol_whitelist", protocols, str(playlist)],
            timeout=30,
            check=False,
        )
    assert fifo.opened.is_set()
    assert listener.was_connected()


@pytest.mark.parametrize("kind", ["hls", "concat"])
@pytest.mark.parametrize("declared", ["video/mp4", "video/quicktime", "video/webm"])
def test_a_playlist_naming_a_file_or_a_url_fails_without_either_being_opened(
    tmp_path, fifo, listener, kind, declared
):
    url = f"http://127.0.0.1:{listener.port}/segment.ts"
    make = media_files.hls_playlist if kind == "hls" else media_files.concat_list
    for segment in (str(fifo.path), url):
        original = tmp_path / "original"
        original.write_bytes(make(segment))

        with pytest.raises(Undecodable, match="the video cannot be read"):
            process_video(original, tmp_path, declared, LIMITS)

    assert not fifo.opened.is_set()
    assert not listener.was_connected()


def test_a_transcode_ffmpeg_refuses_fails_in_words_with_what_it_said_for_the_log(
    tmp_path, monkeypatch
):
    original = media_files.camera_video(tmp_path, seconds=1, size="320x240", codec="libx265")
    monkeypatch.setattr(transcoding, "PRESET", "no-such-preset")

    with pytest.raises(Undecodable) as raised:
        process_video(original, tmp_path, "video/mp4", LIMITS)

    assert str(raised.value) == (
        "the video cannot be converted: its pictures or sound are damaged or unsupported"
    )
    assert "ffmpeg exited" in raised.value.detail and str(tmp_path) not in str(raised.value)
