"""Telling a file's type from its leading bytes."""

import pytest

from media_service.signatures import mismatch

SAMPLES = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/gif": b"GIF89a\x01\x00\x01\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "image/heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00",
    "video/quicktime": b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00",
    "video/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm\x42\x87",
}
# As the first bytes of real files: longer than any signature needs.
SAMPLES = {mime: head.ljust(64, b"\x00") for mime, head in SAMPLES.items()}


@pytest.mark.parametrize("mime", SAMPLES)
def test_each_type_is_recognised(mime):
    assert mismatch(mime, SAMPLES[mime]) is None


@pytest.mark.parametrize("declared", SAMPLES)
@pytest.mark.parametrize("actual", SAMPLES)
def test_no_type_passes_for_another(declared, actual):
    if declared != actual:
        assert mismatch(declared, SAMPLES[actual]) == f"content is {actual}, not {declared}"


def test_a_quicktime_file_without_ftyp_is_recognised_by_its_first_atom():
    assert mismatch("video/quicktime", b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat") is None
