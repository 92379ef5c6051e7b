"""How long the worker's processing takes, and how much memory, on local files
(no storage, no broker).

The 12 MP phone photo (4000x3000 JPEG with EXIF orientation and GPS), a
100 MP PNG, a 10 s 720p H.264 video, and how fast a 16000x16000 video and a
decompression bomb are refused. Time: each several times in this process,
median, min and max. Memory: each once more in a fresh process, whose peak
resident set (and that of its ffprobe/ffmpeg children) is the figure.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.table import print_table, summarize
from harness import media_files
from media_service.processing.ffmpeg import VideoLimits
from media_service.processing.images import Undecodable, process_image
from media_service.processing.videos import process_video

RUNS = 7
MAX_PIXELS = 100_000_000
VIDEO_LIMITS = VideoLimits(max_pixels=8192 * 4320, timeout_seconds=120)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Work:
    label: str
    run: Callable[[Path], object]  # given the directory holding the media files


def _refused(work: Callable[[], object]) -> None:
    try:
        work()
    except Undecodable:
        return
    raise AssertionError("the file was processed, not refused")


WORK = {
    "photo": Work(
        "12 MP JPEG -> thumb + large WebP + blurhash",
        lambda d: process_image(d / "photo.jpg", d, "image/jpeg", MAX_PIXELS),
    ),
    "big-image": Work(
        "100 MP PNG (10000x10000) -> thumb + large WebP + blurhash",
        lambda d: process_image(d / "big.png", d, "image/png", MAX_PIXELS),
    ),
    "video": Work(
        "10 s 720p H.264 -> ffprobe + WebP poster + MP4 (remuxed)",
        lambda d: process_video(d / "video.mp4", d, "video/mp4", VIDEO_LIMITS),
    ),
    "huge-video": Work(
        "16000x16000 MJPEG .mov -> refused",
        lambda d: _refused(
            lambda: process_video(d / "huge.mov", d, "video/quicktime", VIDEO_LIMITS)
        ),
    ),
    "bomb": Work(
        "40000x40000 PNG bomb -> refused",
        lambda d: _refused(lambda: process_image(d / "bomb.png", d, "image/png", MAX_PIXELS)),
    ),
}


def _write_media(directory: Path) -> None:
    (directory / "photo.jpg").write_bytes(media_files.phone_photo())
    (directory / "big.png").write_bytes(media_files.big_png(10_000))
    video = media_files.short_video(directory, seconds=10, size="1280x720")
    (directory / "video.mp4").write_bytes(video)
    (directory / "huge.mov").write_bytes(media_files.huge_mjpeg_mov(directory))
    (directory / "bomb.png").write_bytes(media_files.decompression_bomb())


def _timed(work: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _peak_mib(name: str, directory: Path) -> dict[str, str]:
    """Peak RSS of one run of `name` in a fresh process, and of its children."""
    argv = [sys.executable, "-m", "bench.processing", "--peak", name, str(directory)]
    reply = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    peaks = json.loads(reply.stdout)
    children = peaks["children"]
    return {
        "peak MiB": str(peaks["self"]),
        "ffmpeg MiB": str(children) if children else "-",
    }


def _measure_peak(name: str, directory: Path) -> None:
    """In the fresh process: run `name` once, print the peaks in MiB. Its own is
    VmHWM, not getrusage's ru_maxrss, which Linux carries over exec from the
    parent (the benchmark, big by then); the tools' is ru_maxrss of the children
    (at least this process's size when it started them, small here)."""
    WORK[name].run(directory)
    status = Path("/proc/self/status").read_text()
    hwm_kib = int(
        next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]
    )
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"self": hwm_kib // 1024, "children": children_kib // 1024}))


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        _write_media(directory)
        rows = [
            {
                "work": work.label,
                **summarize(_timed(partial(work.run, directory), RUNS)),
                **_peak_mib(name, directory),
            }
            for name, work in WORK.items()
        ]
    print_table("processing (one job, on this machine; peak RSS in a fresh process)", rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak"]:
        _measure_peak(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
