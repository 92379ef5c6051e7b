"""The `video` variant: an MP4 every browser and phone plays, at most 720p.

    original ──compliant already?──yes──▶ remux: the same streams, moov moved first (faststart)
                                  └─no──▶ encode: H.264 High yuv420p (libx264), AAC (≤ 2 channels),
                                          long side ≤ 1280 (never up), upright, ≤ 60 fps, capped bitrate

Compliant means an MP4 or QuickTime file holding H.264 (yuv420p, a profile
every player decodes) within the size, frame rate and bitrate caps, shown
upright as stored, with AAC sound or none. Either way the output carries no
metadata of the original (a phone's GPS position above all) and its index
comes first, so playback starts before the download ends. ffmpeg runs as
media_service.processing.ffmpeg confines it, with a time limit scaled to the video's
duration, and reports its progress.
"""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from media_service.processing.ffmpeg import (
    FFMPEG_THREADS,
    TOOL_MAX_ALLOC,
    Container,
    Progress,
    VideoLimits,
    detail,
    input_options,
    refuse_over_limits,
    run_with_progress,
)
from media_service.processing.images import Undecodable

VARIANT_FILE = "720p.mp4"
MAX_LONG_SIDE = 1280
MAX_FRAME_RATE = 60
MAX_VIDEO_BITRATE = 2_500_000  # bits per second, of the picture
# libx264's speed/size trade-off: "veryfast" encodes 1080p to 720p at about a
# third of real time on one core of the machines we measured on (make bench).
PRESET = "veryfast"
QUALITY = "23"  # libx264's constant rate factor, its default; the bitrate cap still holds
AUDIO_BITRATE = "128k"
PLAYABLE_PROFILES = {"Constrained Baseline", "Baseline", "Main", "High"}
# The time limit of one transcode: this many seconds per second of video, at least
# the limit of any ffmpeg run.
SECONDS_PER_SECOND = 4.0

_SCALE = (
    f"scale=w='min({MAX_LONG_SIDE},iw)':h='min({MAX_LONG_SIDE},ih)'"
    ":force_original_aspect_ratio=decrease:force_divisible_by=2,format=yuv420p"
)


@dataclass(frozen=True)
class Source:
    """What the probe said of the original."""

    container: Container
    file_type: str
    video: dict[str, Any]  # ffprobe's main video stream
    audio: list[dict[str, Any]]  # its audio streams
    duration: float  # seconds
    rotation: int  # degrees
    bit_rate: int  # of the picture, or of the whole file when unknown; 0 if neither


def transcode(
    original: Path, out_dir: Path, source: Source, limits: VideoLimits, progress: Progress
) -> tuple[Path, bool]:
    """Write the variant into `out_dir`; its path, and whether it was remuxed."""
    output = out_dir / VARIANT_FILE
    remux = is_compliant(source)
    argv = [
        "ffmpeg", "-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1",
        "-max_alloc", str(TOOL_MAX_ALLOC), "-filter_threads", FFMPEG_THREADS,
        *input_options(original, source.container, limits),
        "-map", f"0:{source.video['index']}", "-map", "0:a:0?",
        "-map_metadata", "-1", "-map_chapters", "-1",
        *(["-c", "copy"] if remux else _encoding(source)),
        "-movflags", "+faststart", "-f", "mp4", "-y", f"file:{output}",
    ]  # fmt: skip
    timeout = max(limits.timeout_seconds, source.duration * SECONDS_PER_SECOND)
    result = run_with_progress(argv, timeout, source.duration, progress)
    refuse_over_limits(result, limits.max_pixels)
    if result.returncode != 0 or not output.exists():
        raise Undecodable(
            "the video cannot be converted: its pictures or sound are damaged or unsupported",
            detail(result),
        )
    return output, remux


def _encoding(source: Source) -> list[str]:
    channels = int(source.audio[0].get("channels") or 0) if source.audio else 0
    return [
        "-vf", _SCALE, "-fpsmax", str(MAX_FRAME_RATE),
        "-c:v", "libx264", "-preset", PRESET, "-profile:v", "high", "-crf", QUALITY,
        "-maxrate", str(MAX_VIDEO_BITRATE), "-bufsize", str(2 * MAX_VIDEO_BITRATE),
        "-threads", FFMPEG_THREADS,
        "-c:a", "aac", "-b:a", AUDIO_BITRATE,
        *(["-ac", "2"] if channels > 2 else []),  # surround is mixed down; mono stays mono
    ]  # fmt: skip


def is_compliant(source: Source) -> bool:
    """Plays everywhere as it is: remuxing is enough."""
    video = source.video
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    return (
        source.file_type in ("video/mp4", "video/quicktime")
        and video.get("codec_name") == "h264"
        and video.get("pix_fmt") == "yuv420p"
        and video.get("profile") in PLAYABLE_PROFILES
        and 0 < max(width, height) <= MAX_LONG_SIDE
        and source.rotation == 0
        and 0 < _frame_rate(video) <= MAX_FRAME_RATE
        and 0 < source.bit_rate <= MAX_VIDEO_BITRATE
        and all(stream.get("codec_name") == "aac" for stream in source.audio[:1])
    )


def _frame_rate(stream: dict[str, Any]) -> float:
    try:
        return float(Fraction(str(stream.get("avg_frame_rate") or "0/1")))
    except (ValueError, ZeroDivisionError):
        return 0.0
