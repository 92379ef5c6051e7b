"""Image and video processing on local files (no storage, no database)."""

import io
from pathlib import Path

import pytest
from PIL import Image

from media_service.images import Undecodable, process_image
from media_service.videos import _rotation
from tests import media_files

LIMIT = 100_000_000


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "original"
    path.write_bytes(data)
    return path


def test_transparency_survives_into_the_variants(tmp_path: Path):
    buffer = io.BytesIO()
    Image.new("RGBA", (400, 200), (255, 0, 0, 0)).save(buffer, "PNG")

    result = process_image(_write(tmp_path, buffer.getvalue()), tmp_path, LIMIT)

    with Image.open(result.variants[0].path) as thumb:
        assert thumb.mode == "RGBA" and thumb.getpixel((10, 10))[3] == 0


def test_a_cmyk_jpeg_becomes_rgb(tmp_path: Path):
    buffer = io.BytesIO()
    Image.new("CMYK", (500, 500), (0, 255, 255, 0)).save(buffer, "JPEG")

    result = process_image(_write(tmp_path, buffer.getvalue()), tmp_path, LIMIT)

    assert (result.width, result.height) == (500, 500)
    with Image.open(result.variants[0].path) as thumb:
        assert thumb.mode == "RGB"


def test_the_pixel_limit_is_checked_on_the_header(tmp_path: Path):
    with pytest.raises(
        Undecodable, match="the image is 40000x40000 pixels, over the limit of 100000000 pixels"
    ):
        process_image(_write(tmp_path, media_files.decompression_bomb()), tmp_path, LIMIT)


def test_text_is_not_an_image(tmp_path: Path):
    with pytest.raises(Undecodable, match="^the image cannot be decoded: "):
        process_image(_write(tmp_path, b"<html>hello</html>"), tmp_path, LIMIT)


@pytest.mark.parametrize(
    "stream, degrees",
    [
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, -90),
        ({"tags": {"rotate": "270"}}, 270),
        ({}, 0),
    ],
)
def test_video_rotation_is_read_from_the_display_matrix_or_the_old_tag(stream, degrees):
    assert _rotation(stream) == degrees
