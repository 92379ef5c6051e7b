"""Telling a file's type from its leading bytes."""

import struct
import subprocess
from pathlib import Path

import pytest

from harness import media_files
from media_formats.signatures import HEAD_BYTES, mismatch

IMAGE_SAMPLES = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/gif": b"GIF89a\x01\x00\x01\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "image/heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
}
# As the first bytes of real files: longer than any signature needs.
IMAGE_SAMPLES = {mime: head.ljust(HEAD_BYTES, b"\x00") for mime, head in IMAGE_SAMPLES.items()}
VIDEO_SUFFIXES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm"}
MIMES = [*IMAGE_SAMPLES, *VIDEO_SUFFIXES]


def _box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    return _box(b"ftyp", major + b"\x00\x00\x02\x00" + b"".join(compatible))


def _ffmpeg_file(directory: Path, name: str, *output_options: str) -> bytes:
    """A one-second test pattern written by ffmpeg as a phone or app would."""
    source = directory / "source.mp4"
    if not source.exists():
        source.write_bytes(media_files.short_video(directory, seconds=1, size="160x120"))
    path = directory / name
    argv = ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c", "copy", *output_options]
    subprocess.run([*argv, str(path)], check=True, timeout=60)
    return path.read_bytes()


@pytest.fixture(scope="module")
def real_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes]]:
    """Whole files by name: (their MIME type, their bytes)."""
    directory = tmp_path_factory.mktemp("videos")
    return {
        "mp4": ("video/mp4", _ffmpeg_file(directory, "plain.mp4")),
        "mp4 faststart": (
            "video/mp4",
            _ffmpeg_file(directory, "fs.mp4", "-movflags", "+faststart"),
        ),
        "mp4 fragmented": (
            "video/mp4",
            _ffmpeg_file(directory, "frag.mp4", "-movflags", "frag_keyframe+empty_moov"),
        ),
        "mp4 brand mp42": ("video/mp4", _ffmpeg_file(directory, "mp42.mp4", "-brand", "mp42")),
        "m4v": ("video/mp4", _ffmpeg_file(directory, "ipod.m4v", "-f", "ipod")),
        "3gp": ("video/mp4", _ffmpeg_file(directory, "phone.3gp", "-f", "3gp")),
        "mov": ("video/quicktime", _ffmpeg_file(directory, "plain.mov")),
        "mov faststart": (
            "video/quicktime",
            _ffmpeg_file(directory, "fs.mov", "-movflags", "+faststart"),
        ),
        "webm": (
            "video/webm",
            media_files.short_video(directory, seconds=1, size="160x120", suffix=".webm"),
        ),
    }


@pytest.fixture(scope="module")
def samples(real_files) -> dict[str, bytes]:
    """One head of each accepted type."""
    videos = {
        real_files[name][0]: real_files[name][1][:HEAD_BYTES] for name in ("mp4", "mov", "webm")
    }
    return {**IMAGE_SAMPLES, **videos}


@pytest.mark.parametrize("mime", MIMES)
def test_each_type_is_recognised(samples, mime):
    assert mismatch(mime, samples[mime]) is None


@pytest.mark.parametrize("declared", MIMES)
@pytest.mark.parametrize("actual", MIMES)
def test_no_type_passes_for_another(samples, declared, actual):
    if declared != actual:
        assert mismatch(declared, samples[actual]) == f"content is {actual}, not {declared}"


@pytest.mark.parametrize(
    "name",
    [
        "mp4",
        "mp4 faststart",
        "mp4 fragmented",
        "mp4 brand mp42",
        "m4v",
        "3gp",
        "mov",
        "mov faststart",
        "webm",
    ],
)
def test_files_as_ffmpeg_writes_them_pass_whole_and_by_their_head(real_files, name):
    mime, data = real_files[name]

    assert mismatch(mime, data[:HEAD_BYTES]) is None
    assert mismatch(mime, data[:HEAD_BYTES], len(data)) is None


@pytest.mark.parametrize(
    "major",
    [
        b"isom",
        b"iso2",
        b"iso5",
        b"mp41",
        b"mp42",
        b"avc1",
        b"M4V ",
        b"3gp5",
        b"3g2a",
        b"mmp4",
        b"MSNV",
        b"XAVC",
        b"CAEP",
    ],
)
def test_brands_of_cameras_and_phones_are_mp4(major):
    head = _ftyp(major, major, b"isom") + _box(b"free") + struct.pack(">I", 100_000) + b"mdat"

    assert mismatch("video/mp4", head.ljust(HEAD_BYTES, b"\x00")) is None


@pytest.mark.parametrize(
    "major",
    [b"jp2 ", b"jpx ", b"jxl ", b"mjp2", b"crx ", b"avif", b"M4A ", b"dash", b"\x00\x00\x00\x00"],
)
def test_other_brands_are_not_mp4(major):
    head = _ftyp(major, b"isom") + struct.pack(">I", 100_000) + b"mdat"

    assert mismatch("video/mp4", head.ljust(HEAD_BYTES, b"\x00")) == "content is not video/mp4"


def test_a_quicktime_file_without_ftyp_is_recognised_by_its_first_atom():
    assert mismatch("video/quicktime", b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat") is None


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(_ftyp(b"isom", b"isom") + b"\x00\x00\x00\x00mdat", id="mdat to the end"),
        pytest.param(
            _ftyp(b"isom") + b"\x00\x00\x00\x01mdat" + struct.pack(">Q", 1 << 33), id="64-bit size"
        ),
        pytest.param(
            _ftyp(b"mp42")
            + _box(b"uuid", bytes(40))
            + _box(b"free", bytes(8))
            + b"\x00\x10\x00\x00mdat",
            id="chain",
        ),
    ],
)
def test_box_chains_cameras_write_are_mp4(head):
    assert mismatch("video/mp4", (head + bytes(HEAD_BYTES))[:HEAD_BYTES], 1 << 34) is None


def test_a_file_of_a_lone_ftyp_box_is_an_mp4_with_nothing_in_it():
    assert mismatch("video/mp4", struct.pack(">I", 16) + b"ftypisom\x00\x00\x02\x00") is None


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(struct.pack(">I", 14) + b"ftypisom\x00\x00", id="ftyp shorter than 16"),
        pytest.param(
            struct.pack(">I", 22) + b"ftypisom\x00\x00\x02\x00isom\x00\x00",
            id="ftyp of half a brand",
        ),
        pytest.param(
            struct.pack(">I", 0x10000) + b"ftypisom\x00\x00\x02\x00", id="ftyp beyond the head"
        ),
        pytest.param(_ftyp(b"isom") + b"\x00\x00\x00\x08junk", id="unknown box"),
        pytest.param(_ftyp(b"isom") + b"\x00\x00\x00\x04free", id="box smaller than its header"),
        pytest.param(
            _ftyp(b"isom") + b"\x00\x00\x00\x01mdat" + struct.pack(">Q", 12),
            id="64-bit size too small",
        ),
        pytest.param(_ftyp(b"isom") + _box(b"free") + b"<?xml version", id="text after the boxes"),
        pytest.param(_ftyp(b"isom") + bytes(100), id="zeros after ftyp"),
    ],
)
def test_broken_box_chains_are_not_mp4(head):
    assert mismatch("video/mp4", head.ljust(HEAD_BYTES, b"\x01")) == "content is not video/mp4"


def test_a_box_larger_than_the_file_breaks_the_chain():
    file = _ftyp(b"isom") + struct.pack(">I", 1_000_000) + b"mdat" + bytes(1_000_000 - 8)
    head = file[:HEAD_BYTES]

    assert mismatch("video/mp4", head, len(file)) is None
    assert mismatch("video/mp4", head, 500_000) == "content is not video/mp4"
    assert mismatch("video/mp4", head[:1000]) == "content is not video/mp4"  # the whole file


def test_a_head_that_runs_out_mid_box_is_fine():
    head = _ftyp(b"isom") + _box(b"free") + struct.pack(">I", 10_000_000) + b"mdat"

    assert mismatch("video/mp4", head.ljust(HEAD_BYTES, b"\xff")) is None


def test_a_head_that_runs_out_mid_box_header_is_fine_unless_the_file_ends_there():
    padding = _box(b"free", bytes(HEAD_BYTES - 16 - 8 - 4))
    head = _ftyp(b"isom") + padding + struct.pack(">I", 1 << 20)  # the type is cut off
    assert len(head) == HEAD_BYTES

    assert mismatch("video/mp4", head) is None
    assert mismatch("video/mp4", head, 1 << 21) is None
    assert mismatch("video/mp4", head, HEAD_BYTES) == "content is not video/mp4"


def test_a_multipart_test_file_shape_passes():
    # ftyp, then one mdat to the end of a big file: what a test needs to upload
    # random bytes as an MP4.
    size = 17 * 1024 * 1024
    head = _ftyp(b"isom", b"isom", b"iso2") + struct.pack(">I", size - 24) + b"mdat"

    assert mismatch("video/mp4", (head + bytes(HEAD_BYTES))[:HEAD_BYTES], size) is None


@pytest.mark.parametrize("disguise", media_files.DISGUISES)
@pytest.mark.parametrize("declared", ["video/mp4", "video/quicktime"])
def test_a_dash_manifest_is_no_video_whatever_box_it_wears(disguise, declared):
    manifest = media_files.disguised_dash_manifest(Path("/srv/worker/video.mp4"), disguise)

    assert mismatch(declared, manifest[:HEAD_BYTES]) == f"content is not {declared}"
    assert (
        mismatch(declared, manifest.ljust(5000)[:HEAD_BYTES], 5000) == f"content is not {declared}"
    )


@pytest.mark.parametrize("brand", [b"jp2 ", b"jpx ", b"jxl ", b"isom"])
def test_a_dash_manifest_behind_a_real_ftyp_box_is_no_video(brand):
    manifest = _ftyp(brand, brand) + media_files.dash_manifest(Path("/srv/worker/video.mp4"))

    assert mismatch("video/mp4", manifest[:HEAD_BYTES]) == "content is not video/mp4"
