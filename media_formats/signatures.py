"""What a file really is, from its leading bytes (magic numbers).

A small table of our own rather than a library: it must be exact for the
few types we accept (and name them as our media-type table does), and say
"truncated" when there are too few bytes to tell.

MP4 and QuickTime are a chain of boxes (4-byte size, 4-byte type). Their
checks walk that chain as far as the head goes: the `ftyp` box must be sane
and name a brand that cameras, phones and common encoders write, and every
top-level box after it must have a known type and a size that fits the file.
Looking only at the first bytes let a DASH manifest behind a fake `ftyp` or
`free` box pass as a video (ffmpeg, left to guess, would then have followed
it to files on the worker's disk).
"""

import struct
from collections.abc import Callable

HEAD_BYTES = 4096  # enough for every signature below, including WebM's DocType

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
# Major brands of the MP4 files cameras, phones and common encoders write.
_MP4_BRANDS = {
    # ISO base media and MPEG-4 (ffmpeg, Android, most apps and cameras)
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
    # Apple iTunes / iPhone exports
    b"M4V ", b"M4VH", b"M4VP",
    # 3GPP and 3GPP2 phones, NTT docomo, KDDI
    b"3gp4", b"3gp5", b"3gp6", b"3gr6", b"3gs6", b"3ge6", b"3gg6", b"3g2a", b"3g2b", b"3g2c",
    b"mmp4", b"KDDI",
    # cameras: Sony (PSP format, XAVC S), Canon, Nikon, Panasonic, Casio
    b"MSNV", b"XAVC", b"CAEP", b"NIKO", b"pana", b"caqv",
}  # fmt: skip
_QUICKTIME_BRANDS = {b"qt  "}
# Boxes found at the top level of MP4 (ISO/IEC 14496-12) and QuickTime files.
_TOP_LEVEL_BOXES = {
    b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"pdin", b"moof",
    b"mfra", b"sidx", b"ssix", b"styp", b"prft", b"emsg", b"pnot", b"PICT", b"udta",
}  # fmt: skip
# A QuickTime movie without `ftyp` (older cameras) starts with one of these.
_QUICKTIME_FIRST_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_BOX_HEADER = 8
_LARGE_BOX_HEADER = 16  # size 1: a 64-bit size follows the type


def _jpeg(head: bytes, end: int | None) -> bool:
    return head.startswith(b"\xff\xd8\xff")


def _png(head: bytes, end: int | None) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _gif(head: bytes, end: int | None) -> bool:
    return head[:6] in (b"GIF87a", b"GIF89a")


def _webp(head: bytes, end: int | None) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _ftyp_brand(head: bytes) -> bytes | None:
    return head[8:12] if head[4:8] == b"ftyp" else None


def _heic(head: bytes, end: int | None) -> bool:
    return _ftyp_brand(head) in _HEIC_BRANDS


def _ftyp_size(head: bytes) -> int | None:
    """The size of a well-formed leading `ftyp` box, or None: a major brand, a
    minor version, then whole 4-byte compatible brands, all within the head."""
    if head[4:8] != b"ftyp" or len(head) < 16:
        return None
    size = int.from_bytes(head[:4], "big")
    return size if 16 <= size <= len(head) and (size - _BOX_HEADER) % 4 == 0 else None


def _boxes_intact(head: bytes, offset: int, end: int | None) -> bool:
    """Every top-level box from `offset` on has a known type and a size that fits
    the file (`end`: its length, None if unknown); the walk stops where the head does."""
    while offset + _BOX_HEADER <= len(head):
        size, kind = struct.unpack_from(">I4s", head, offset)
        if kind not in _TOP_LEVEL_BOXES:
            return False
        if size == 0:  # the last box: it runs to the end of the file
            return True
        header = _BOX_HEADER
        if size == 1:
            if offset + _LARGE_BOX_HEADER > len(head):
                return end is None or offset + _LARGE_BOX_HEADER <= end
            (size,) = struct.unpack_from(">Q", head, offset + _BOX_HEADER)
            header = _LARGE_BOX_HEADER
        if size < header:
            return False
        offset += size
        if end is not None and offset > end:
            return False
    # The head ended mid-box or mid-header: fine, unless the head is the whole
    # file, which must then end on a box boundary.
    return end is None or end > len(head) or offset == end


def _mp4(head: bytes, end: int | None) -> bool:
    return _iso_file(head, end, _MP4_BRANDS)


def _quicktime(head: bytes, end: int | None) -> bool:
    if head[4:8] == b"ftyp":
        return _iso_file(head, end, _QUICKTIME_BRANDS)
    return head[4:8] in _QUICKTIME_FIRST_ATOMS and _boxes_intact(head, 0, end)


def _iso_file(head: bytes, end: int | None, brands: set[bytes]) -> bool:
    size = _ftyp_size(head)
    return size is not None and _ftyp_brand(head) in brands and _boxes_intact(head, size, end)


def _webm(head: bytes, end: int | None) -> bool:
    return head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64]


SIGNATURES: dict[str, tuple[int, Callable[[bytes, int | None], bool]]] = {
    # MIME type: (bytes needed to decide, test of the head and the file's length)
    "image/jpeg": (3, _jpeg),
    "image/png": (8, _png),
    "image/gif": (6, _gif),
    "image/webp": (12, _webp),
    "image/heic": (12, _heic),
    "video/mp4": (16, _mp4),
    "video/quicktime": (8, _quicktime),
    "video/webm": (32, _webm),
}


def mismatch(declared: str, head: bytes, size: int | None = None) -> str | None:
    """Why `head` is not `declared`, or None.

    `head` is the file's first HEAD_BYTES bytes, or the whole file when it is
    shorter; `size` is the file's length when known (a box claiming more than
    the file holds is then refused even beyond the head).
    """
    needed, matches = SIGNATURES[declared]
    if len(head) < needed:
        return f"content is too short to be {declared} (truncated header)"
    end = _file_end(head, size)
    if matches(head, end):
        return None
    actual = sniff(head, end)
    return f"content is {actual}, not {declared}" if actual else f"content is not {declared}"


def _file_end(head: bytes, size: int | None) -> int | None:
    if size is not None:
        return size
    return len(head) if len(head) < HEAD_BYTES else None


def sniff(head: bytes, end: int | None = None) -> str | None:
    """The type `head` looks like, for messages; a few non-media types are named too."""
    for mime, (_, matches) in SIGNATURES.items():
        if matches(head, end):
            return mime
    text = head.lstrip()[:256].lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if text.startswith(b"<?xml") or b"<svg" in text:
        return "SVG/XML"
    return None
