"""Video processing with ffprobe and ffmpeg: metadata and a WebP poster frame.

Both run as subprocesses with a time limit and bounded threads; a file they
cannot read raises `Undecodable` with ffprobe's or ffmpeg's own words.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from media_service.images import WEBP_QUALITY, Undecodable, Variant

POSTER_AT = 0.10  # of the duration
POSTER_LONGEST = 1080
FFMPEG_THREADS = "2"


@dataclass(frozen=True)
class VideoResult:
    duration_ms: int
    width: int  # as displayed: rotation applied
    height: int
    codec: str
    poster: Variant


def process_video(original: Path, out_dir: Path, timeout_seconds: float) -> VideoResult:
    probe = _probe(original, timeout_seconds)
    stream = next((s for s in probe.get("streams", []) if s.get("codec_type") == "video"), None)
    if stream is None:
        raise Undecodable("the file has no video stream")
    duration = float(probe.get("format", {}).get("duration") or stream.get("duration") or 0)
    width, height = int(stream.get("width", 0)), int(stream.get("height", 0))
    if abs(_rotation(stream)) in (90, 270):
        width, height = height, width
    poster = _poster(original, out_dir, duration * POSTER_AT, timeout_seconds)
    return VideoResult(
        duration_ms=round(duration * 1000),
        width=width,
        height=height,
        codec=str(stream.get("codec_name", "")),
        poster=poster,
    )


def _probe(original: Path, timeout_seconds: float) -> dict:
    output = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(original),
        ],
        "ffprobe",
        timeout_seconds,
    )
    return json.loads(output)


def _rotation(stream: dict) -> int:
    """Degrees the player turns the picture (display matrix, or the old rotate tag)."""
    for side_data in stream.get("side_data_list", []):
        if "rotation" in side_data:
            return int(float(side_data["rotation"]))
    return int(stream.get("tags", {}).get("rotate", 0))


def _poster(original: Path, out_dir: Path, at_seconds: float, timeout_seconds: float) -> Variant:
    """One frame (ffmpeg applies the rotation), written as WebP by Pillow."""
    frame = out_dir / "poster-frame.png"
    _run(
        [
            "ffmpeg", "-v", "error", "-y", "-threads", FFMPEG_THREADS,
            "-ss", f"{at_seconds:.3f}", "-i", str(original),
            "-frames:v", "1", "-an", str(frame),
        ],
        "ffmpeg",
        timeout_seconds,
    )  # fmt: skip
    if not frame.exists():
        raise Undecodable("ffmpeg found no frame to use as a poster")
    with Image.open(frame) as image:
        poster = image.convert("RGB")
    poster.thumbnail((POSTER_LONGEST, POSTER_LONGEST), Image.Resampling.LANCZOS)
    path = out_dir / "poster.webp"
    poster.save(path, "WEBP", quality=WEBP_QUALITY, method=4)
    return Variant(name="poster", width=poster.width, height=poster.height, path=path)


def _run(argv: list[str], tool: str, timeout_seconds: float) -> str:
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_seconds, check=False
        )
    except subprocess.TimeoutExpired:
        raise Undecodable(f"{tool} took longer than {timeout_seconds:g} s") from None
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise Undecodable(f"{tool} cannot read the file: {detail}")
    return result.stdout
