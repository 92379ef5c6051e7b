"""Video processing: metadata (ffprobe), a WebP poster frame, and the playable
`video` variant (media_service.processing.transcoding).

The tools are run as media_service.processing.ffmpeg confines them; the probed sizes are
checked against the pixel limit too. A file that fails raises `Undecodable`
with a reason in the user's words, and what the tool said as its `detail`,
for the log.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from media_service.processing.ffmpeg import (
    CONTAINERS,
    FFMPEG_THREADS,
    TOOL_MAX_ALLOC,
    Container,
    Progress,
    VideoLimits,
    detail,
    input_options,
    over_limit,
    refuse_over_limits,
    run,
)
from media_service.processing.images import WEBP_QUALITY, Undecodable, Variant
from media_service.processing.transcoding import Source, transcode

POSTER_AT = 0.10  # of the duration
POSTER_LONGEST = 1080

# What ffprobe prints (JSON): the container's `format` and its `streams`.
Probe = dict[str, Any]


@dataclass(frozen=True)
class VideoResult:
    duration_ms: int
    width: int  # as displayed: rotation applied
    height: int
    codec: str
    poster: Variant
    video: Variant  # the playable MP4
    remuxed: bool  # the original's streams as they were, or encoded anew


def process_video(
    original: Path,
    out_dir: Path,
    file_type: str,
    limits: VideoLimits,
    progress: Progress = lambda _: None,
) -> VideoResult:
    """Probe `original` as the declared `file_type`, write its poster and its
    playable MP4 into `out_dir`; `progress` hears how far the MP4 got."""
    source = probe_source(original, file_type, limits)
    stream = source.video
    width, height = int(stream.get("width", 0)), int(stream.get("height", 0))
    if abs(source.rotation) in (90, 270):
        width, height = height, width
    poster = _poster(
        original,
        out_dir,
        source.container,
        int(stream["index"]),
        source.duration * POSTER_AT,
        limits,
    )
    path, remuxed = transcode(original, out_dir, source, limits, progress)
    return VideoResult(
        duration_ms=round(source.duration * 1000),
        width=width,
        height=height,
        codec=str(stream.get("codec_name", "")),
        poster=poster,
        video=_playable(path, limits),
        remuxed=remuxed,
    )


def probe_source(original: Path, file_type: str, limits: VideoLimits) -> Source:
    """What ffprobe reads of `original` as the declared `file_type`; Undecodable
    if it is not one, or is over the limits."""
    container = CONTAINERS[file_type]
    probe = _probe(original, container, limits)
    stream = _main_video_stream(probe)
    return Source(
        container=container,
        file_type=file_type,
        video=stream,
        audio=[s for s in probe.get("streams", []) if s.get("codec_type") == "audio"],
        duration=_duration(probe, stream),
        rotation=_rotation(stream),
        bit_rate=int(stream.get("bit_rate") or probe.get("format", {}).get("bit_rate") or 0),
    )


def _playable(path: Path, limits: VideoLimits) -> Variant:
    """The variant as ffprobe reads the MP4 we wrote."""
    probe = _probe(path, CONTAINERS["video/mp4"], limits)
    stream = _main_video_stream(probe)
    return Variant(
        name="video",
        width=int(stream["width"]),
        height=int(stream["height"]),
        path=path,
        content_type="video/mp4",
        duration_ms=round(_duration(probe, stream) * 1000),
    )


def _duration(probe: Probe, stream: Probe) -> float:
    return float(probe.get("format", {}).get("duration") or stream.get("duration") or 0)


def _probe(original: Path, container: Container, limits: VideoLimits) -> Probe:
    argv = [
        "ffprobe", "-v", "error", "-max_alloc", str(TOOL_MAX_ALLOC),
        *input_options(original, container, limits),
        "-print_format", "json", "-show_format", "-show_streams",
    ]  # fmt: skip
    result = run(argv, limits)
    refuse_over_limits(result, limits.max_pixels)
    not_valid = f"the video cannot be read: it is not a valid {container.name} file"
    if result.returncode != 0:
        raise Undecodable(not_valid, detail(result))
    probe: Probe = json.loads(result.stdout)
    format_name = probe.get("format", {}).get("format_name")
    if format_name != container.format_name:  # pinned above; a second lock on the door
        raise Undecodable(not_valid, f"ffprobe read it as {format_name}")
    for stream in _video_streams(probe):
        _refuse_oversized(stream, limits.max_pixels)
    return probe


def _video_streams(probe: Probe) -> list[Probe]:
    return [s for s in probe.get("streams", []) if s.get("codec_type") == "video"]


def _main_video_stream(probe: Probe) -> Probe:
    """The first video stream that is not cover art (an attached picture)."""
    for stream in _video_streams(probe):
        if not stream.get("disposition", {}).get("attached_pic"):
            if not (stream.get("width") and stream.get("height")):
                raise Undecodable("the video cannot be read: its picture size is unknown")
            return stream
    raise Undecodable("the file has no video stream")


def _refuse_oversized(stream: Probe, max_pixels: int) -> None:
    """Both the displayed and the coded size (which may be padded) count."""
    for width_key, height_key in (("width", "height"), ("coded_width", "coded_height")):
        width, height = int(stream.get(width_key) or 0), int(stream.get(height_key) or 0)
        if width * height > max_pixels:
            raise Undecodable(over_limit(width, height, max_pixels))


def _rotation(stream: Probe) -> int:
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
        *input_options(original, container, limits),
        "-map", f"0:{stream_index}", "-frames:v", "1", "-vf", _POSTER_SCALE, "-threads", "1",
        "-f", "image2", "-y", f"file:{frame}",
    ]  # fmt: skip
    result = run(argv, limits)
    refuse_over_limits(result, limits.max_pixels)
    if result.returncode != 0:
        raise Undecodable(
            "the video cannot be decoded: its pictures are damaged or unsupported",
            detail(result),
        )
    return frame.exists() and frame.stat().st_size > 0
