"""Running ffprobe and ffmpeg on an untrusted original, held to what one local
file of the declared type needs:

- the demuxer is the declared type's (`-f mov`, `-f matroska`), never one
  ffmpeg picks from the content: a DASH or HLS playlist, or a concat list,
  dressed up as an MP4 would otherwise be followed, and it may name any file
  on this machine or any URL;
- only the `file` protocol, and no external references (the mov demuxer's
  data references);
- `-max_pixels`: no decoder allocates a frame over the video pixel limit, not
  even ffprobe's stream-info decode;
- bounded memory (an address-space limit, `-max_alloc`), two threads, no
  stdin, and a time limit.
"""

import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from media_service.processing.images import Undecodable

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
    timeout_seconds: float  # of each ffprobe or ffmpeg run (a transcode gets more)


@dataclass(frozen=True)
class ToolRun:
    """One finished run of ffprobe or ffmpeg."""

    tool: str
    returncode: int
    stdout: str
    stderr: str


def input_options(original: Path, container: Container, limits: VideoLimits) -> list[str]:
    """The options that confine how the original is opened and decoded, then the file."""
    return [
        "-protocol_whitelist", "file",
        "-f", container.demuxer, *container.options,
        "-threads", FFMPEG_THREADS,
        "-max_pixels", str(min(limits.max_pixels, _AVOPTION_INT_MAX)),
        "-i", f"file:{original}",
    ]  # fmt: skip


# libavutil's words when -max_pixels stops a decoder; ffprobe then reports a
# size of 0x0, so the size is taken from here.
_PICTURE_TOO_BIG = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")


# What ffmpeg says when the address-space limit or -max_alloc refuses memory:
# a failed allocation, or no buffer for a decoded frame.
_OUT_OF_MEMORY = ("Cannot allocate memory", "get_buffer() failed")


def refuse_over_limits(result: ToolRun, max_pixels: int) -> None:
    """A limit stopped the tool (it may still exit 0, having decoded nothing)."""
    if match := _PICTURE_TOO_BIG.search(result.stderr):
        width, height = int(match[1]), int(match[2])
        raise Undecodable(over_limit(width, height, max_pixels), detail(result))
    if any(sign in result.stderr for sign in _OUT_OF_MEMORY):
        raise Undecodable("the video needs more memory to decode than is allowed", detail(result))


def over_limit(width: int, height: int, max_pixels: int) -> str:
    return f"the video is {width}x{height} pixels, over the limit of {max_pixels} pixels"


def _limited(argv: list[str]) -> list[str]:
    """`argv` under an address-space limit set by prlimit in the child (not a
    preexec_fn, which can deadlock a threaded worker)."""
    return ["prlimit", f"--as={TOOL_ADDRESS_SPACE}", "--", *argv]


def run(argv: list[str], limits: VideoLimits) -> ToolRun:
    """`argv` under the memory limits, with a time limit."""
    try:
        result = subprocess.run(
            _limited(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=limits.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _took_too_long(argv[0], limits.timeout_seconds) from None
    return ToolRun(argv[0], result.returncode, result.stdout, result.stderr)


Progress = Callable[[float], None]  # how much of the input is done, 0.0 to 1.0


def run_with_progress(
    argv: list[str], timeout_seconds: float, duration_seconds: float, progress: Progress
) -> ToolRun:
    """ffmpeg `argv`, which must report on stdout (`-progress pipe:1`), under
    the memory limits and `timeout_seconds`; `progress` is told how far it got
    in the input, whose length is `duration_seconds`, as it goes."""
    killed = threading.Event()
    # stderr goes to a file: a tool that says much never blocks on a full pipe.
    with tempfile.TemporaryFile("w+", errors="replace") as stderr:
        process = subprocess.Popen(
            _limited(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            errors="replace",
        )

        def kill() -> None:
            killed.set()
            process.kill()

        timer = threading.Timer(timeout_seconds, kill)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                key, _, value = line.strip().partition("=")
                if key == "out_time_us" and value.isdigit() and duration_seconds > 0:
                    progress(min(1.0, int(value) / 1e6 / duration_seconds))
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if killed.is_set():
            raise _took_too_long(argv[0], timeout_seconds)
        stderr.seek(0)
        return ToolRun(argv[0], returncode, "", stderr.read())


def _took_too_long(tool: str, seconds: float) -> Undecodable:
    return Undecodable(f"the video took longer than {seconds:g} s to process", f"{tool} timed out")


def detail(result: ToolRun) -> str:
    """What the tool said, for the log (it names the file's path)."""
    return f"{result.tool} exited {result.returncode}: {result.stderr.strip()[-2000:]}"
