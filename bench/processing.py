"""How long the worker's processing takes, on local files (no storage, no broker).

The 12 MP phone photo (4000x3000 JPEG with EXIF orientation and GPS), a
10 s 720p H.264 video, and how fast a decompression bomb is refused; each
several times: median, min and max.
"""

import tempfile
import time
from pathlib import Path

from bench.table import print_table, summarize
from media_service.images import Undecodable, process_image
from media_service.videos import process_video
from tests import media_files

RUNS = 7
MAX_PIXELS = 100_000_000


def _timed(work, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _refused(bomb: Path, directory: Path) -> None:
    try:
        process_image(bomb, directory, MAX_PIXELS)
    except Undecodable:
        return
    raise AssertionError("the bomb was decoded")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        photo = directory / "photo.jpg"
        photo.write_bytes(media_files.phone_photo())
        video = directory / "video.mp4"
        video.write_bytes(media_files.short_video(directory, seconds=10, size="1280x720"))
        bomb = directory / "bomb.png"
        bomb.write_bytes(media_files.decompression_bomb())
        rows = [
            {"work": "12 MP JPEG -> thumb + large WebP + blurhash",
             **summarize(_timed(lambda: process_image(photo, directory, MAX_PIXELS), RUNS))},
            {"work": "10 s 720p H.264 -> ffprobe + WebP poster",
             **summarize(_timed(lambda: process_video(video, directory, 120), RUNS))},
            {"work": f"40000x40000 PNG bomb ({bomb.stat().st_size // 1024} KiB) -> refused",
             **summarize(_timed(lambda: _refused(bomb, directory), RUNS))},
        ]  # fmt: skip
    print_table("processing (one job, on this machine)", rows)


if __name__ == "__main__":
    main()
