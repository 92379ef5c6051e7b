"""Image processing: bounded decode, upright, metadata-free WebP variants, blurhash.

Pure work on local files (the worker downloads the original first): nothing
here talks to storage or the database. A file that cannot be processed
raises `Undecodable` with a reason fit for `failureReason`.
"""

from dataclasses import dataclass
from pathlib import Path

import blurhash
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()
# Our own limit (checked on the header, before decoding, with a clear message)
# replaces Pillow's global one.
Image.MAX_IMAGE_PIXELS = None

# Long side of each variant in pixels; an image is never scaled up.
VARIANT_SIZES = {"thumb": 320, "large": 1080}
WEBP_QUALITY = 82
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SOURCE_SIZE = 64
# EXIF orientations that turn the stored image a quarter turn.
_QUARTER_TURNS = {5, 6, 7, 8}


class Undecodable(Exception):
    """The file is not an image (or video) we can process; the message says why."""


@dataclass(frozen=True)
class Variant:
    name: str
    width: int
    height: int
    path: Path
    content_type: str = "image/webp"


@dataclass(frozen=True)
class ImageResult:
    width: int  # upright, of the original
    height: int
    blurhash: str
    variants: list[Variant]


def process_image(original: Path, out_dir: Path, max_pixels: int) -> ImageResult:
    """Decode `original` within `max_pixels`, write its variants into `out_dir`."""
    try:
        with Image.open(original) as image:
            width, height = _upright_size(image, max_pixels)
            upright = _decode_upright(image, max(VARIANT_SIZES.values()))
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as error:
        raise Undecodable(f"the image cannot be decoded: {error}") from error
    variants = [
        _write_variant(upright, name, size, out_dir) for name, size in VARIANT_SIZES.items()
    ]
    return ImageResult(width=width, height=height, blurhash=_blurhash(upright), variants=variants)


def _upright_size(image: Image.Image, max_pixels: int) -> tuple[int, int]:
    """The original's size, refused before any pixel is decoded if over the limit."""
    width, height = image.size
    if width * height > max_pixels:
        raise Undecodable(
            f"the image is {width}x{height} pixels, over the limit of {max_pixels} pixels"
        )
    if image.getexif().get(ImageOps.ExifTags.Base.Orientation) in _QUARTER_TURNS:
        return height, width
    return width, height


def _decode_upright(image: Image.Image, longest: int) -> Image.Image:
    """The first frame, decoded no larger than needed, turned upright, in RGB(A)."""
    image.seek(0)  # animated GIF/WebP: the first frame
    image.draft("RGB", (longest, longest))  # JPEG decodes at 1/2, 1/4, 1/8 scale when it can
    upright = ImageOps.exif_transpose(image)
    mode = (
        "RGBA" if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info else "RGB"
    )
    converted = upright.convert(mode)
    converted.load()
    # A bare copy of the pixels: no EXIF, GPS, XMP or ICC travels on from here.
    return Image.frombytes(converted.mode, converted.size, converted.tobytes())


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
