"""Sample media made on the spot (Pillow, ffmpeg): nothing large is committed."""

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


def small_jpeg(size: int = 2048) -> bytes:
    """A real (decodable) 16x16 JPEG of a random colour, padded to `size` bytes
    (decoders ignore what follows the end-of-image marker)."""
    colour = tuple(os.urandom(3))
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    assert len(data) <= size, f"a JPEG needs at least {len(data)} bytes"
    return data + os.urandom(size - len(data))


def fake_mp4(size: int) -> bytes:
    """Bytes laid out like an MP4 (an ftyp box, then an mdat box holding the
    rest), random inside the mdat: what a camera writes, as far as the leading
    bytes tell."""
    ftyp = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    mdat = struct.pack(">I", size - len(ftyp)) + b"mdat"
    return ftyp + mdat + os.urandom(size - len(ftyp) - len(mdat))


def write_fake_mp4(path: Path, size: int) -> None:
    """fake_mp4 of `size` bytes written to `path` a MiB at a time, never whole in memory."""
    mib = 1024 * 1024
    head = bytearray(fake_mp4(min(size, mib)))
    head[24:28] = (size - 24).to_bytes(4, "big")  # the mdat box spans the whole file
    with path.open("wb") as file:
        file.write(head)
        for written in range(len(head), size, mib):
            file.write(os.urandom(min(mib, size - written)))


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


# Encoders for each container the tests write: what phones and browsers use.
_ENCODERS = {
    ".mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"],
    ".mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"],
    ".webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
}


def short_video(
    directory: Path,
    seconds: float = 2,
    size: str = "320x240",
    suffix: str = ".mp4",
    frames: int | None = None,
) -> bytes:
    """A video of ffmpeg's test pattern: H.264 in MP4 or QuickTime, VP9 in WebM;
    `frames` cuts it to that many frames."""
    path = directory / f"clip-{os.getpid()}{suffix}"
    argv = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=25",
        *_ENCODERS[suffix], *(["-frames:v", str(frames)] if frames else []),
    ]  # fmt: skip
    subprocess.run([*argv, str(path)], check=True, timeout=60)
    return path.read_bytes()


def padded_video(directory: Path, size: int) -> bytes:
    """A playable MP4 of exactly `size` bytes: a short clip, then a top-level
    `free` box (which players and ffmpeg skip) filled with random bytes, so
    every part of a multipart upload carries different data."""
    clip = short_video(directory, seconds=1)
    padding = size - len(clip) - 8
    assert padding >= 0, f"a playable MP4 needs at least {len(clip) + 8} bytes"
    return clip + struct.pack(">I", padding + 8) + b"free" + os.urandom(padding)


def huge_mjpeg_mov(directory: Path, side: int = 16_000) -> bytes:
    """A one-frame Motion-JPEG QuickTime movie of side x side pixels (a few MB):
    a solid-grey JPEG written directly, put in a .mov by ffmpeg without decoding."""
    frame = directory / f"frame-{os.getpid()}.jpg"
    frame.write_bytes(solid_grey_jpeg(side, side))
    path = directory / f"huge-{os.getpid()}.mov"
    argv = ["ffmpeg", "-v", "error", "-y", "-f", "mjpeg", "-i", str(frame), "-c", "copy"]
    subprocess.run([*argv, "-f", "mov", str(path)], check=True, timeout=60)
    return path.read_bytes()


def solid_grey_jpeg(width: int, height: int) -> bytes:
    """A baseline 4:2:0 JPEG, every 8x8 block mid-grey, made without an encoder:
    with the standard tables each block is the same 6 bits (DC difference 0,
    end of block), so a 256 MP picture is 4.5 MB and takes milliseconds."""

    def segment(marker: int, data: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data

    components = [(1, 0x22), (2, 0x11), (3, 0x11)]  # Y sampled 2x2, Cb and Cr 1x1
    header = (
        segment(0xDB, bytes([0] + [1] * 64))  # quantisation table 0: all coefficients are 0
        + segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + b"".join(bytes([c, s, 0]) for c, s in components))
        + segment(0xC4, _STANDARD_LUMA_DC + _STANDARD_LUMA_AC)
        + segment(0xDA, bytes([3, 1, 0, 2, 0, 3, 0, 0, 63, 0]))
    )  # fmt: skip
    blocks = ((width + 15) // 16) * ((height + 15) // 16) * 6
    bits = "001010" * (blocks % 4)  # "00": DC category 0, "1010": end of block
    bits += "1" * (-len(bits) % 8)  # padding, as JPEG wants it
    tail = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return b"\xff\xd8" + header + b"\x28\xa2\x8a" * (blocks // 4) + tail + b"\xff\xd9"


# The standard luminance Huffman tables of JPEG (ITU T.81 annex K), as DHT entries.
_STANDARD_LUMA_DC = bytes([0x00, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, *range(12)])
_STANDARD_LUMA_AC = bytes(
    [0x10, 0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D]
) + bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f0"
    "2433627282090a161718191a25262728292a3435363738393a43444546474849"
    "4a535455565758595a636465666768696a737475767778797a83848586878889"
    "8a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5"
    "c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8"
    "f9fa"
)


def big_png(side: int = 10_000) -> bytes:
    """An RGB PNG of side x side pixels (100 MP by default), red and blue halves:
    small on disk, full size once decoded."""
    image = Image.new("RGB", (side, side), (20, 40, 220))
    image.paste((220, 30, 30), (0, 0, side // 2, side))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def dash_manifest(media: Path) -> bytes:
    """A DASH manifest (MPD) whose one video is `media`, named by a file:// URL.
    ffmpeg, left to pick a demuxer from the content, plays `media` from it."""
    return f"""<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
  profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" mediaPresentationDuration="PT2S">
 <Period>
  <AdaptationSet mimeType="video/mp4">
   <Representation id="1" bandwidth="100000" width="320" height="240" codecs="avc1.42c00d">
    <BaseURL>file://{media}</BaseURL>
    <SegmentBase/>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>
""".encode()


# What a DASH manifest can wear to pass for an MP4 or QuickTime file: its first
# bytes are a box header (size, type, brand) and, being an XML comment, also
# valid XML before the manifest; nothing in them stops ffmpeg's DASH probe.
DISGUISES = {
    "ftyp-jp2": b"<!--ftypjp2 -->\n",
    "ftyp-jpx": b"<!--ftypjpx -->\n",
    "ftyp-jxl": b"<!--ftypjxl -->\n",
    "free": b"<!--free-->\n",
    "wide": b"<!--wide-->\n",
}


def disguised_dash_manifest(media: Path, disguise: str) -> bytes:
    return DISGUISES[disguise] + dash_manifest(media)


def camera_video(
    directory: Path,
    seconds: float = 10,
    size: str = "1920x1080",
    codec: str = "libx264",
    suffix: str = ".mp4",
    rotation: int = 0,
    quality: int = 30,
) -> Path:
    """A clip as a camera or phone records one: a moving picture with sound
    (AAC), H.264 or HEVC, optionally tagged to be shown turned by `rotation`
    degrees, and a GPS position in its metadata. `quality` is the encoder's
    CRF: higher is smaller."""
    path = (
        directory / f"camera-{seconds}s-{size}-{codec}-q{quality}-r{rotation}-{os.getpid()}{suffix}"
    )
    argv = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size={size}:rate=30",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", codec, "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-crf", str(quality),
        *(["-x265-params", "log-level=error", "-tag:v", "hvc1"] if codec == "libx265" else []),
        "-c:a", "aac", "-b:a", "96k", "-shortest",
        "-metadata", "location=+48.8584+002.2945/",
    ]  # fmt: skip
    subprocess.run([*argv, str(path)], check=True, timeout=120)
    if rotation:  # this ffmpeg writes the rotation only when it copies the stream
        turned = path.with_name(f"turned-{path.name}")
        argv = ["ffmpeg", "-v", "error", "-y", "-i", str(path), "-map_metadata", "0", "-c", "copy"]
        subprocess.run([*argv, "-metadata:s:v:0", f"rotate={rotation}", str(turned)], check=True)
        turned.replace(path)
    return path


def top_level_boxes(data: bytes) -> list[str]:
    """The types of an MP4's top-level boxes, in file order."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:  # a 64-bit size follows the type
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


def hls_playlist(segment: str) -> bytes:
    """An HLS playlist whose one segment is `segment` (a path or a URL)."""
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{segment}\n#EXT-X-ENDLIST\n".encode()


def concat_list(entry: str) -> bytes:
    """An ffconcat list naming `entry` (a path or a URL)."""
    return f"ffconcat version 1.0\nfile '{entry}'\n".encode()
