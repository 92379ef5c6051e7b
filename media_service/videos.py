"""Video processing with ffprobe and ffmpeg: metadata and a WebP poster frame.

The original is untrusted, so both tools are held to what one local file of
the declared type needs:
- the demuxer is the declared type's (`-f mov`, `-f matroska`), never one
  ffmpeg picks from the content: a DASH or HLS playlist dressed up as an MP4
  would otherwise be followed, and it may name any file on this machine;
- only the `file` protocol, and no external references (the mov demuxer's
  data references);
- `-max_pixels`: no decoder allocates a frame over the video pixel limit, not
  even ffprobe's stream-info decode; the probed sizes are checked too;
- bounded memory (an address-space limit, `-max_alloc`), two threads and a
  time limit.
A file that fails raises `Undecodable` with a reason in the user's words, and
what the tool said as its `detail`, for the log.
"""

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from media_service.images import WEBP_QUALITY, Undecodable, Variant

POSTER_AT = 0.10  # of the duration
POSTER_LONGEST = 1080
FFMPEG_THREADS = "2"
MIB = 1024 * 1024
# Address space of one ffprobe or ffmpeg run. Measured needs (prlimit, these
# options): about 300 MiB just to load ffmpeg's libraries, 450 MiB for 1080p
# and 4K H.264, VP9 and ProRes, 620 MiB for 4K 10-bit HEVC and AV1, 1.1 GiB for
# 8K 10-bit HEVC; most of it reserved rather than used (libraries, thread
# stacks, malloc arenas). Twice the worst leaves headroom and still stops a
# decoder on its way to many gigabytes.
TOOL_ADDRESS_SPACE = 2048 * MIB
# No single allocation above this: an 8K frame plane at 16 bits is 70 MiB.
TOOL_MAX_ALLOC = 256 * MIB
_AVOPTION_INT_MAX = 2**31 - 1  # -max_pixels is an int option


@dataclass(frozen=True)
class Container:
    name: str  # as users know it, for messages
    demuxer: str  # ffmpeg's -f
    format_name: str  # what ffprobe reports for that demuxer
    options: tuple[str, ...] = ()  # demuxer options


# The mov demuxer can follow data references to other files ("drefs"): off.
_MOV_OPTIONS = ("-enable_drefs", "0", "-use_absolute_path", "0")
CONTAINERS = {
    "video/mp4": Container("MP4", "mov", "mov,mp4,m4a,3gp,3g2,mj2", _MOV_OPTIONS),
    "video/quicktime": Container("QuickTime", "mov", "mov,mp4,m4a,3gp,3g2,mj2", _MOV_OPTIONS),
    "video/webm": Container("WebM", "matroska", "matroska,webm"),
}


@dataclass(frozen=True)
class VideoLimits:
    max_pixels: int  # of any frame
    timeout_seconds: float  # of each ffprobe or ffmpeg run


@dataclass(frozen=True)
class ToolRun:
    """One finished run of ffprobe or ffmpeg."""

    tool: str
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class VideoResult:
    duration_ms: int
    width: int  # as displayed: rotation applied
    height: int
    codec: str
    poster: Variant


def process_video(
    original: Path, out_dir: Path, file_type: str, limits: VideoLimits
) -> VideoResult:
    """Probe `original` as the declared `file_type`, write its poster into `out_dir`."""
    container = CONTAINERS[file_type]
    probe = _probe(original, container, limits)
    stream = _main_video_stream(probe)
    duration = float(probe.get("format", {}).get("duration") or stream.get("duration") or 0)
    width, height = int(stream.get("width", 0)), int(stream.get("height", 0))
    if abs(_rotation(stream)) in (90, 270):
        width, height = height, width
    poster = _poster(
        original, out_dir, container, int(stream["index"]), duration * POSTER_AT, limits
    )
    return VideoResult(
        duration_ms=round(duration * 1000),
        width=width,
        height=height,
        codec=str(stream.get("codec_name", "")),
        poster=poster,
    )


def _probe(original: Path, container: Container, limits: VideoLimits) -> dict:
    argv = [
        "ffprobe", "-v", "error", "-max_alloc", str(TOOL_MAX_ALLOC),
        *_input(original, container, limits),
        "-print_format", "json", "-show_format", "-show_streams",
    ]  # fmt: skip
    result = _run(argv, limits)
    _refuse_over_limits(result, limits.max_pixels)
    not_valid = f"the video cannot be read: it is not a valid {container.name} file"
    if result.returncode != 0:
        raise Undecodable(not_valid, _detail(result))
    probe = json.loads(result.stdout)
    format_name = probe.get("format", {}).get("format_name")
    if format_name != container.format_name:  # pinned above; a second lock on the door
        raise Undecodable(not_valid, f"ffprobe read it as {format_name}")
    for stream in _video_streams(probe):
        _refuse_oversized(stream, limits.max_pixels)
    return probe


def _input(original: Path, container: Container, limits: VideoLimits) -> list[str]:
    """The options that confine how the original is opened and decoded, then the file."""
    return [
        "-protocol_whitelist", "file",
        "-f", container.demuxer, *container.options,
        "-threads", FFMPEG_THREADS,
        "-max_pixels", str(min(limits.max_pixels, _AVOPTION_INT_MAX)),
        "-i", f"file:{original}",
    ]  # fmt: skip


def _video_streams(probe: dict) -> list[dict]:
    return [s for s in probe.get("streams", []) if s.get("codec_type") == "video"]


def _main_video_stream(probe: dict) -> dict:
    """The first video stream that is not cover art (an attached picture)."""
    for stream in _video_streams(probe):
        if not stream.get("disposition", {}).get("attached_pic"):
            if not (stream.get("width") and stream.get("height")):
                raise Undecodable("the video cannot be read: its picture size is unknown")
            return stream
    raise Undecodable("the file has no video stream")


def _refuse_oversized(stream: dict, max_pixels: int) -> None:
    """Both the displayed and the coded size (which may be padded) count."""
    for width_key, height_key in (("width", "height"), ("coded_width", "coded_height")):
        width, height = int(stream.get(width_key) or 0), int(stream.get(height_key) or 0)
        if width * height > max_pixels:
            raise Undecodable(_over_limit(width, height, max_pixels))


# libavutil's words when -max_pixels stops a decoder; ffprobe then reports a
# size of 0x0, so the size is taken from here.
_PICTURE_TOO_BIG = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")


# What ffmpeg says when the address-space limit or -max_alloc refuses memory:
# a failed allocation, or no buffer for a decoded frame.
_OUT_OF_MEMORY = ("Cannot allocate memory", "get_buffer() failed")


def _refuse_over_limits(result: ToolRun, max_pixels: int) -> None:
    """A limit stopped the tool (it may still exit 0, having decoded nothing)."""
    if match := _PICTURE_TOO_BIG.search(result.stderr):
        width, height = int(match[1]), int(match[2])
        raise Undecodable(_over_limit(width, height, max_pixels), _detail(result))
    if any(sign in result.stderr for sign in _OUT_OF_MEMORY):
        raise Undecodable("the video needs more memory to decode than is allowed", _detail(result))


def _over_limit(width: int, height: int, max_pixels: int) -> str:
    return f"the video is {width}x{height} pixels, over the limit of {max_pixels} pixels"


def _rotation(stream: dict) -> int:
    """Degrees the player turns the picture (display matrix, or the old rotate tag)."""
    for side_data in stream.get("side_data_list", []):
        if "rotation" in side_data:
            return int(float(side_data["rotation"]))
    return int(stream.get("tags", {}).get("rotate", 0))


def _poster(
    original: Path,
    out_dir: Path,
    container: Container,
    stream_index: int,
    at_seconds: float,
    limits: VideoLimits,
) -> Variant:
    """A frame at `at_seconds`, or the first one (a video of one frame has none
    later), turned upright and scaled down by ffmpeg, written as WebP by Pillow."""
    frame = out_dir / "poster-frame.png"
    for seek in (at_seconds, None) if at_seconds > 0 else (None,):
        if _extract_frame(original, frame, container, stream_index, seek, limits):
            break
    else:
        raise Undecodable("the video has no frame to use as a poster")
    with Image.open(frame, formats=["PNG"]) as image:
        poster = image.convert("RGB")
    poster.thumbnail((POSTER_LONGEST, POSTER_LONGEST), Image.Resampling.LANCZOS)
    path = out_dir / "poster.webp"
    poster.save(path, "WEBP", quality=WEBP_QUALITY, method=4)
    return Variant(name="poster", width=poster.width, height=poster.height, path=path)


# Long side at most POSTER_LONGEST, never scaled up; the aspect ratio kept.
_POSTER_SCALE = (
    f"scale=w='min({POSTER_LONGEST},iw)':h='min({POSTER_LONGEST},ih)'"
    ":force_original_aspect_ratio=decrease"
)


def _extract_frame(
    original: Path,
    frame: Path,
    container: Container,
    stream_index: int,
    seek: float | None,
    limits: VideoLimits,
) -> bool:
    """Write one frame from `seek` seconds (None: the first) to `frame`; False if none."""
    frame.unlink(missing_ok=True)
    argv = [
        "ffmpeg", "-nostdin", "-v", "error", "-max_alloc", str(TOOL_MAX_ALLOC),
        "-filter_threads", FFMPEG_THREADS,
        *(["-ss", f"{seek:.3f}"] if seek is not None else []),
        *_input(original, container, limits),
        "-map", f"0:{stream_index}", "-frames:v", "1", "-vf", _POSTER_SCALE, "-threads", "1",
        "-f", "image2", "-y", f"file:{frame}",
    ]  # fmt: skip
    result = _run(argv, limits)
    _refuse_over_limits(result, limits.max_pixels)
    if result.returncode != 0:
        raise Undecodable(
            "the video cannot be decoded: its pictures are damaged or unsupported",
            _detail(result),
        )
    return frame.exists() and frame.stat().st_size > 0


def _run(argv: list[str], limits: VideoLimits) -> ToolRun:
    """`argv` under an address-space limit set by prlimit in the child (not a
    preexec_fn, which can deadlock a threaded worker), with a time limit."""
    limited = ["prlimit", f"--as={TOOL_ADDRESS_SPACE}", "--", *argv]
    try:
        result = subprocess.run(
            limited,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=limits.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Undecodable(
            f"the video took longer than {limits.timeout_seconds:g} s to process",
            f"{argv[0]} timed out",
        ) from None
    return ToolRun(argv[0], result.returncode, result.stdout, result.stderr)


def _detail(result: ToolRun) -> str:
    """What the tool said, for the log (it names the file's path)."""
    return f"{result.tool} exited {result.returncode}: {result.stderr.strip()[-2000:]}"
