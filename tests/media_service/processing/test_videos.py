"""Video processing on local files: ffprobe and ffmpeg held to the declared type
and to bounded pixels and memory (no storage, no database)."""

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from harness import media_files
from media_service.processing import ffmpeg
from media_service.processing.ffmpeg import TOOL_ADDRESS_SPACE, VideoLimits, run
from media_service.processing.images import Undecodable
from media_service.processing.videos import _refuse_oversized, _rotation, process_video

LIMITS = VideoLimits(max_pixels=8192 * 4320, timeout_seconds=60)


def _write(directory: Path, data: bytes, name: str = "original") -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def _assert_fit_for_users(reason: str, directory: Path) -> None:
    """failureReason is shown to users: no worker path, no exception class name."""
    assert str(directory) not in reason and "/tmp" not in reason
    assert not re.search(r"\b[A-Z][a-z]+(Error|Exception)\b", reason), reason


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A video on the worker's disk that no upload may reach."""
    return _write(tmp_path, media_files.short_video(tmp_path), "secret.mp4")


def test_the_manifest_really_plays_the_file_it_names_when_ffmpeg_guesses(tmp_path, secret):
    # The attack is live on this ffmpeg: guessing from the content, ffprobe
    # takes the DASH demuxer and reads the file the manifest names.
    manifest = _write(tmp_path, media_files.disguised_dash_manifest(secret, "ftyp-jp2"))

    guessed = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0"]
        + [str(manifest)],
        capture_output=True,
        text=True,
        check=True,
    )

    assert guessed.stdout.strip() == "dash"


@pytest.mark.parametrize("disguise", [None, *media_files.DISGUISES])
def test_a_dash_manifest_declared_mp4_is_not_played(tmp_path, secret, disguise):
    manifest = (
        media_files.disguised_dash_manifest(secret, disguise)
        if disguise
        else media_files.dash_manifest(secret)
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    with pytest.raises(Undecodable) as refused:
        process_video(_write(tmp_path, manifest), out_dir, "video/mp4", LIMITS)

    assert str(refused.value) == "the video cannot be read: it is not a valid MP4 file"
    assert list(out_dir.iterdir()) == [], "no frame of the named file was written"
    _assert_fit_for_users(str(refused.value), tmp_path)


@pytest.mark.parametrize(
    "suffix, declared, name",
    [(".mp4", "video/webm", "WebM"), (".webm", "video/mp4", "MP4")],
)
def test_a_video_is_only_read_as_the_declared_container(tmp_path, suffix, declared, name):
    video = _write(tmp_path, media_files.short_video(tmp_path, seconds=1, suffix=suffix))

    with pytest.raises(
        Undecodable, match=f"^the video cannot be read: it is not a valid {name} file$"
    ):
        process_video(video, tmp_path, declared, LIMITS)


@pytest.mark.parametrize(
    "suffix, declared",
    [(".mp4", "video/mp4"), (".mov", "video/quicktime"), (".webm", "video/webm")],
)
def test_each_declared_container_is_read(tmp_path, suffix, declared):
    video = _write(tmp_path, media_files.short_video(tmp_path, seconds=1, suffix=suffix))

    result = process_video(video, tmp_path, declared, LIMITS)

    assert (result.width, result.height, result.duration_ms) == (320, 240, 1000)


def test_a_video_over_the_pixel_limit_is_refused_before_a_frame_is_decoded(tmp_path):
    video = _write(tmp_path, media_files.huge_mjpeg_mov(tmp_path))
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    with pytest.raises(Undecodable) as refused:
        process_video(video, out_dir, "video/quicktime", LIMITS)

    assert str(refused.value) == (
        "the video is 16000x16000 pixels, over the limit of 35389440 pixels"
    )
    assert list(out_dir.iterdir()) == []


def test_the_coded_size_counts_against_the_pixel_limit():
    # A stream can show a small picture and code a huge one (cropping).
    stream = {"width": 320, "height": 240, "coded_width": 16000, "coded_height": 16000}

    with pytest.raises(Undecodable, match="^the video is 16000x16000 pixels, over the limit"):
        _refuse_oversized(stream, 8192 * 4320)


def test_a_single_frame_video_gets_its_first_frame_as_the_poster(tmp_path):
    video = _write(tmp_path, media_files.short_video(tmp_path, frames=1))

    result = process_video(video, tmp_path, "video/mp4", LIMITS)

    assert result.duration_ms == 40
    with Image.open(result.poster.path) as poster:
        assert (poster.format, poster.size) == ("WEBP", (320, 240))


def test_the_poster_is_scaled_down_to_1080_and_never_up(tmp_path):
    wide = _write(tmp_path, media_files.short_video(tmp_path, size="2160x1080", frames=1))

    result = process_video(wide, tmp_path, "video/mp4", LIMITS)

    assert (result.width, result.height) == (2160, 1080)
    assert (result.poster.width, result.poster.height) == (1080, 540)


def test_a_video_that_needs_more_memory_than_allowed_fails_in_words(tmp_path, monkeypatch):
    # Room for ffmpeg's libraries (about 300 MiB), none for a 16000x16000 frame (384 MB).
    monkeypatch.setattr(ffmpeg, "TOOL_ADDRESS_SPACE", 512 * 1024 * 1024)
    video = _write(tmp_path, media_files.huge_mjpeg_mov(tmp_path))
    no_pixel_limit = VideoLimits(max_pixels=16_000 * 16_000, timeout_seconds=60)

    with pytest.raises(Undecodable) as refused:
        process_video(video, tmp_path, "video/quicktime", no_pixel_limit)

    assert str(refused.value) == "the video needs more memory to decode than is allowed"


def test_video_tools_run_under_the_address_space_limit():
    # What the limit is in the child, as ffmpeg and ffprobe get it (KiB).
    result = run(["sh", "-c", "ulimit -v"], LIMITS)

    assert int(result.stdout) * 1024 == TOOL_ADDRESS_SPACE


def test_a_file_that_is_not_a_video_fails_in_words_without_paths(tmp_path):
    data = (
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x00mdat" + bytes(4000)
    )

    with pytest.raises(Undecodable) as refused:
        process_video(_write(tmp_path, data), tmp_path, "video/mp4", LIMITS)

    assert str(refused.value) == "the video cannot be read: it is not a valid MP4 file"
    _assert_fit_for_users(str(refused.value), tmp_path)
    assert "moov atom not found" in refused.value.detail  # ffprobe's words, for the log


@pytest.mark.parametrize(
    "stream, degrees",
    [
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, -90),
        ({"tags": {"rotate": "270"}}, 270),
        ({}, 0),
    ],
)
def test_video_rotation_is_read_from_the_display_matrix_or_the_old_tag(stream, degrees):
    assert _rotation(stream) == degrees
