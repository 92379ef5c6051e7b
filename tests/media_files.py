"""Test media made on the spot (Pillow, ffmpeg): nothing large is committed."""

import io
import os
import struct
import subprocess
import zlib
from pathlib import Path

import pillow_heif
from PIL import ExifTags, Image

pillow_heif.register_heif_opener()

ORIENTATION_ROTATE_90_CW = 6


def phone_photo(width: int = 4000, height: int = 3000) -> bytes:
    """A 12 MP JPEG as phones write it: sideways pixels with EXIF orientation 6,
    GPS coordinates and a camera model. Left half red, right half blue, so that
    upright (turned a quarter clockwise) it is red on top, blue below."""
    image = Image.new("RGB", (width, height), (20, 40, 220))
    image.paste((220, 30, 30), (0, 0, width // 2, height))
    noise = Image.effect_noise((width, height), 12).convert("RGB")
    image = Image.blend(image, noise, 0.1)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = ORIENTATION_ROTATE_90_CW
    exif[ExifTags.Base.Model] = "Test Phone 12"
    exif[ExifTags.Base.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (13.0, 24.0, 36.0),
    }
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    """The first half of a real JPEG: right header, missing pixels."""
    buffer = io.BytesIO()
    Image.effect_noise((640, 480), 60).convert("RGB").save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    return data[: len(data) // 2]


def decompression_bomb(side: int = 40_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels that compresses to a few hundred KB."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(6)
    idat = (
        b"".join(compressor.compress(row * 1000) for _ in range(side // 1000)) + compressor.flush()
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def animated_gif() -> bytes:
    frames = [
        Image.new("RGB", (100, 60), colour) for colour in ((0, 200, 0), (200, 0, 0), (0, 0, 200))
    ]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def heic_photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 120, 200)).save(buffer, "HEIF")
    return buffer.getvalue()


def short_video(directory: Path, seconds: int = 2, size: str = "320x240") -> bytes:
    """An H.264 MP4 of ffmpeg's test pattern."""
    path = directory / f"clip-{os.getpid()}.mp4"
    argv = [
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=25",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast",
    ]  # fmt: skip
    subprocess.run([*argv, str(path)], check=True, timeout=60)
    return path.read_bytes()
