"""Image processing: bounded decode, upright, metadata-free WebP variants, blurhash.

Pure work on local files (the worker downloads the original first): nothing
here talks to storage or the database. A file that cannot be processed
raises `Undecodable` with a reason fit for `failureReason`.

Memory: the original is decoded once (JPEGs at a reduced scale when that is
enough) and at once shrunk to the largest variant; every other step works on
that small image, so a 100 MP original costs one full-size decode, not five.
"""

from dataclasses import dataclass
from pathlib import Path

import blurhash
import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

pillow_heif.register_heif_opener()
# Our own limit (checked on the header, before decoding, with a clear message)
# replaces Pillow's global one.
Image.MAX_IMAGE_PIXELS = None

# Long side of each variant in pixels; an image is never scaled up.
VARIANT_SIZES = {"thumb": 320, "large": 1080}
WEBP_QUALITY = 82
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SOURCE_SIZE = 64
# Shrinking first by whole factors (cheap) down to this many times the target,
# then resampling properly: as good to the eye, much less work on big images.
REDUCING_GAP = 3.0
# The only decoder tried for each declared type: a file declared PNG is only
# ever decoded as PNG, whatever its bytes look like.
PIL_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/heic": "HEIF",
}
# EXIF orientation -> the transpose that turns the stored pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = {5, 6, 7, 8}
# Modes Pillow resamples well; others (palette, 1-bit, CMYK, 16-bit, ...) are
# converted before shrinking, or resampling would pick pixels, not blend them.
_RESIZABLE_MODES = {"RGB", "RGBA", "L", "LA"}
_ALPHA_MODES = {"RGBA", "LA", "PA"}
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)


class Undecodable(Exception):
    """The file is not an image (or video) we can process. The message says why in
    words for the user (it becomes failureReason: no paths, no exception names);
    `detail` says it in the decoder's words, for the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.detail = detail


@dataclass(frozen=True)
class Variant:
    name: str
    width: int
    height: int
    path: Path  # its file name is the object's name beside the original
    content_type: str = "image/webp"
    duration_ms: int | None = None  # a video variant's


@dataclass(frozen=True)
class ImageResult:
    width: int  # upright, of the original
    height: int
    blurhash: str
    variants: list[Variant]


def process_image(original: Path, out_dir: Path, file_type: str, max_pixels: int) -> ImageResult:
    """Decode `original` as the declared `file_type` within `max_pixels`, write
    its variants into `out_dir`."""
    pil_format = PIL_FORMATS[file_type]
    try:
        with Image.open(original, formats=[pil_format]) as image:
            _refuse_oversized(image, max_pixels)
            orientation = _orientation(image)
            width, height = _upright_size(image, orientation)
            upright = _decode_small_upright(image, orientation, max(VARIANT_SIZES.values()))
    except _DECODE_ERRORS as error:
        raise Undecodable(_decode_failure(error, pil_format), detail=repr(error)) from error
    variants = [
        _write_variant(upright, name, size, out_dir) for name, size in VARIANT_SIZES.items()
    ]
    return ImageResult(width=width, height=height, blurhash=_blurhash(upright), variants=variants)


def _orientation(image: Image.Image) -> int:
    """EXIF orientation; only after the pixel check: for a PNG, Pillow decodes the
    whole image to find an EXIF chunk that may follow the pixels."""
    return int(image.getexif().get(ExifTags.Base.Orientation) or 1)


def _upright_size(image: Image.Image, orientation: int) -> tuple[int, int]:
    width, height = image.size
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)


def _refuse_oversized(image: Image.Image, max_pixels: int) -> None:
    """Checked on the header, before anything (even reading EXIF) decodes a pixel."""
    width, height = image.size
    if width * height > max_pixels:
        raise Undecodable(
            f"the image is {width}x{height} pixels, over the limit of {max_pixels} pixels"
        )


def _decode_small_upright(image: Image.Image, orientation: int, longest: int) -> Image.Image:
    """The first frame, no larger than `longest` on either side, upright, in RGB(A),
    with no metadata: the one full-size decode, shrunk at once."""
    image.seek(0)  # animated GIF/WebP: the first frame
    mode = _target_mode(image)
    image.draft("RGB", (longest, longest))  # JPEG decodes at 1/2, 1/4, 1/8 scale when it can
    small = image
    # A transparent colour key would be blurred away by resampling: converted first too.
    if image.mode not in _RESIZABLE_MODES or "transparency" in image.info:
        small = image.convert(mode)
    small.thumbnail((longest, longest), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    if orientation in _UPRIGHT:
        small = small.transpose(_UPRIGHT[orientation])
    small = small.convert(mode)
    # A bare copy of the pixels: no EXIF, GPS, XMP or ICC travels on from here.
    return Image.frombytes(small.mode, small.size, small.tobytes())


def _target_mode(image: Image.Image) -> str:
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    return "RGBA" if has_alpha else "RGB"


def _decode_failure(error: Exception, pil_format: str) -> str:
    """What went wrong in a user's words (Pillow's own name the file's path)."""
    if isinstance(error, UnidentifiedImageError):
        name = {"WEBP": "WebP", "HEIF": "HEIC"}.get(pil_format, pil_format)
        return f"the image cannot be decoded: it is not a valid {name} file"
    if "truncated" in str(error) or isinstance(error, EOFError):
        return "the image cannot be decoded: the file is truncated"
    return "the image cannot be decoded: its data is damaged or unsupported"


def _write_variant(image: Image.Image, name: str, longest: int, out_dir: Path) -> Variant:
    variant = image.copy()
    variant.thumbnail((longest, longest), Image.Resampling.LANCZOS)  # only ever shrinks
    path = out_dir / f"{name}.webp"
    variant.save(path, "WEBP", quality=WEBP_QUALITY, method=4)
    return Variant(name=name, width=variant.width, height=variant.height, path=path)


def _blurhash(image: Image.Image) -> str:
    small = image.convert("RGB")
    small.thumbnail((BLURHASH_SOURCE_SIZE, BLURHASH_SOURCE_SIZE))
    x, y = BLURHASH_COMPONENTS
    return str(blurhash.encode(small, x_components=x, y_components=y))
