"""Image processing on local files (no storage, no database)."""

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from harness import media_files
from media_service.processing.images import Undecodable, process_image
from tests.support import pixel

LIMIT = 100_000_000


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "original"
    path.write_bytes(data)
    return path


def _encoded(image: Image.Image, pil_format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, pil_format, **params)
    return buffer.getvalue()


def _assert_fit_for_users(reason: str, directory: Path) -> None:
    """failureReason is shown to users: no worker path, no exception class name."""
    assert str(directory) not in reason and "/tmp" not in reason
    assert not re.search(r"\b[A-Z][a-z]+(Error|Exception)\b", reason), reason


def test_transparency_survives_into_the_variants(tmp_path: Path):
    data = _encoded(Image.new("RGBA", (400, 200), (255, 0, 0, 0)), "PNG")

    result = process_image(_write(tmp_path, data), tmp_path, "image/png", LIMIT)

    with Image.open(result.variants[0].path) as thumb:
        assert thumb.mode == "RGBA" and pixel(thumb, (10, 10))[3] == 0


def test_a_transparent_palette_colour_stays_transparent_when_shrunk(tmp_path: Path):
    image = Image.new("P", (2000, 1000), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.paste(1, (1000, 0, 2000, 1000))  # right half red, left half transparent

    result = process_image(
        _write(tmp_path, _encoded(image, "PNG", transparency=0)), tmp_path, "image/png", LIMIT
    )

    with Image.open(result.variants[1].path) as large:
        assert large.size == (1080, 540) and large.mode == "RGBA"
        assert pixel(large, (100, 270))[3] == 0
        red, green, _, alpha = pixel(large, (1000, 270))
        assert (red > 240, green < 15, alpha) == (True, True, 255)


def test_a_cmyk_jpeg_becomes_rgb(tmp_path: Path):
    data = _encoded(Image.new("CMYK", (500, 500), (0, 255, 255, 0)), "JPEG")

    result = process_image(_write(tmp_path, data), tmp_path, "image/jpeg", LIMIT)

    assert (result.width, result.height) == (500, 500)
    with Image.open(result.variants[0].path) as thumb:
        assert thumb.mode == "RGB"


def test_a_phone_photo_is_turned_upright_and_shrunk_without_metadata(tmp_path: Path):
    data = media_files.phone_photo(1600, 1200)  # sideways pixels, EXIF orientation 6, GPS

    result = process_image(_write(tmp_path, data), tmp_path, "image/jpeg", LIMIT)

    assert (result.width, result.height) == (1200, 1600)
    sizes = {v.name: (v.width, v.height) for v in result.variants}
    assert sizes == {"thumb": (240, 320), "large": (810, 1080)}
    with Image.open(result.variants[1].path) as large:
        assert not large.getexif() and not {"exif", "xmp", "icc_profile"} & set(large.info)
        top, bottom = pixel(large, (405, 5)), pixel(large, (405, 1075))
        assert top[0] > top[2] and bottom[2] > bottom[0], "red on top, blue below"


def test_the_pixel_limit_is_checked_on_the_header(tmp_path: Path):
    with pytest.raises(
        Undecodable, match="the image is 40000x40000 pixels, over the limit of 100000000 pixels"
    ):
        process_image(
            _write(tmp_path, media_files.decompression_bomb()), tmp_path, "image/png", LIMIT
        )


def test_text_is_not_an_image(tmp_path: Path):
    with pytest.raises(Undecodable) as refused:
        process_image(_write(tmp_path, b"<html>hello</html>"), tmp_path, "image/png", LIMIT)

    assert str(refused.value) == "the image cannot be decoded: it is not a valid PNG file"
    _assert_fit_for_users(str(refused.value), tmp_path)
    assert "cannot identify image file" in refused.value.detail  # Pillow's words, for the log


@pytest.mark.parametrize(
    "actual, declared, name",
    [
        ("PNG", "image/jpeg", "JPEG"),
        ("JPEG", "image/png", "PNG"),
        ("GIF", "image/webp", "WebP"),
        ("PNG", "image/gif", "GIF"),
        ("JPEG", "image/heic", "HEIC"),
    ],
)
def test_an_image_is_only_decoded_as_its_declared_format(tmp_path, actual, declared, name):
    data = _encoded(Image.new("RGB", (64, 48), (0, 128, 255)), actual)

    with pytest.raises(Undecodable) as refused:
        process_image(_write(tmp_path, data), tmp_path, declared, LIMIT)

    assert str(refused.value) == f"the image cannot be decoded: it is not a valid {name} file"


def test_a_truncated_image_fails_in_words_without_paths(tmp_path: Path):
    with pytest.raises(Undecodable) as refused:
        process_image(_write(tmp_path, media_files.truncated_jpeg()), tmp_path, "image/jpeg", LIMIT)

    assert str(refused.value) == "the image cannot be decoded: the file is truncated"
    _assert_fit_for_users(str(refused.value), tmp_path)


# Peak memory of one process_image in a fresh interpreter, over its baseline:
# VmHWM, as ru_maxrss would carry over the peak of the test process itself.
_PEAK_GROWTH = """
import sys
from pathlib import Path
from media_service.processing.images import Undecodable, process_image
def peak():
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(s for s in status if s.startswith("VmHWM:")).split()[1]) * 1024
before = peak()
try:
    process_image(Path(sys.argv[1]), Path(sys.argv[2]), "image/png", 100_000_000)
except Undecodable:
    pass
print(peak() - before)
"""


def _peak_growth(original: Path, out_dir: Path) -> int:
    script = [sys.executable, "-c", _PEAK_GROWTH, str(original), str(out_dir)]
    return int(subprocess.run(script, capture_output=True, text=True, check=True).stdout)


def test_a_big_image_costs_one_full_size_decode_not_several(tmp_path: Path):
    side = 5000  # 25 MP: Pillow holds RGB in 4 bytes a pixel
    original = _write(tmp_path, media_files.big_png(side))

    assert _peak_growth(original, tmp_path) < 2 * side * side * 4  # was about 5 before


def test_a_decompression_bomb_is_refused_without_decoding_it(tmp_path: Path):
    original = _write(tmp_path, media_files.decompression_bomb())  # 1.6 GB decoded

    assert _peak_growth(original, tmp_path) < 50 * 1024 * 1024
