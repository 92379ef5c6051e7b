"""What a file really is, from its leading bytes (magic numbers).

A small table of our own rather than a library: it must be exact for the
few types we accept (and name them as our media-type table does), and say
"truncated" when there are too few bytes to tell.
"""

from collections.abc import Callable

HEAD_BYTES = 4096  # enough for every signature below, including WebM's DocType

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _jpeg(head: bytes) -> bool:
    return head.startswith(b"\xff\xd8\xff")


def _png(head: bytes) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _gif(head: bytes) -> bool:
    return head[:6] in (b"GIF87a", b"GIF89a")


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _ftyp_brand(head: bytes) -> bytes | None:
    return head[8:12] if head[4:8] == b"ftyp" else None


def _heic(head: bytes) -> bool:
    return _ftyp_brand(head) in _HEIC_BRANDS


def _quicktime(head: bytes) -> bool:
    return _ftyp_brand(head) == b"qt  " or (
        _ftyp_brand(head) is None and head[4:8] in _QUICKTIME_ATOMS
    )


def _mp4(head: bytes) -> bool:
    brand = _ftyp_brand(head)
    return brand is not None and brand != b"qt  " and brand not in _HEIC_BRANDS


def _webm(head: bytes) -> bool:
    return head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64]


SIGNATURES: dict[str, tuple[int, Callable[[bytes], bool]]] = {
    # MIME type: (bytes needed to decide, test)
    "image/jpeg": (3, _jpeg),
    "image/png": (8, _png),
    "image/gif": (6, _gif),
    "image/webp": (12, _webp),
    "image/heic": (12, _heic),
    "video/mp4": (12, _mp4),
    "video/quicktime": (12, _quicktime),
    "video/webm": (32, _webm),
}


def mismatch(declared: str, head: bytes) -> str | None:
    """Why `head` (the first bytes of a file) is not `declared`, or None."""
    needed, matches = SIGNATURES[declared]
    if len(head) < needed:
        return f"content is too short to be {declared} (truncated header)"
    if matches(head):
        return None
    actual = sniff(head)
    return f"content is {actual}, not {declared}" if actual else f"content is not {declared}"


def sniff(head: bytes) -> str | None:
    """The type `head` looks like, for messages; a few non-media types are named too."""
    for mime, (_, matches) in SIGNATURES.items():
        if matches(head):
            return mime
    text = head.lstrip()[:256].lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if text.startswith(b"<?xml") or b"<svg" in text:
        return "SVG/XML"
    return None
