"""The `video` variant's cost on this machine: camera-like clips (moving
picture, AAC sound) encoded to 720p H.264, or remuxed when already compliant,
by the worker's own code (media_service.processing.transcoding) with its default preset
and two threads. Each clip RUNS times; the medians of the wall time and of
the CPU time (ffmpeg's user + system: the work one core would do), each as a
ratio to the clip's duration. The issue's bar: at most 60 s of work per
minute of video, a CPU ratio of 1.0 or less.
"""

import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.table import print_table
from harness import media_files
from media_service.processing.ffmpeg import VideoLimits
from media_service.processing.transcoding import PRESET, transcode
from media_service.processing.videos import probe_source

RUNS = 3
LIMITS = VideoLimits(max_pixels=8192 * 4320, timeout_seconds=600)


@dataclass(frozen=True)
class Clip:
    label: str
    seconds: float
    size: str
    quality: int  # the generating encoder's CRF: 42 keeps a 720p clip under the bitrate cap


CLIPS = [
    Clip("10 s 1080p H.264 + AAC", 10, "1920x1080", 30),
    Clip("60 s 720p H.264 + AAC, over the bitrate cap", 60, "1280x720", 30),
    Clip("60 s 720p H.264 + AAC, compliant", 60, "1280x720", 42),
]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _row(clip: Clip, directory: Path) -> dict[str, str]:
    original = media_files.camera_video(directory, clip.seconds, clip.size, quality=clip.quality)
    source = probe_source(original, "video/mp4", LIMITS)
    walls, cpus, remuxed = [], [], False
    for run in range(RUNS):
        out_dir = directory / f"{original.stem}-{run}"
        out_dir.mkdir()
        cpu, started = _children_cpu(), time.perf_counter()
        _, remuxed = transcode(original, out_dir, source, LIMITS, lambda _: None)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {
        "clip": clip.label,
        "done by": "remux" if remuxed else f"encode ({PRESET})",
        "runs": str(RUNS),
        "median wall s": f"{wall:.2f}",
        "wall / duration": f"{wall / source.duration:.3f}",
        "median CPU s": f"{cpu:.2f}",
        "CPU / duration": f"{cpu / source.duration:.3f}",
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        rows = [_row(clip, Path(scratch)) for clip in CLIPS]
    print_table("the video variant: 720p H.264/AAC MP4 (two threads; CPU = one core's work)", rows)


if __name__ == "__main__":
    main()
