"""How sizes are written in quota messages."""

import pytest

from media_service.usage import in_bytes


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (512, "512 bytes"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (100 * 1024**2, "100 MiB"),
        (1000 * 1024**2, "1000 MiB"),  # under 1 GiB, and no "1e+03"
        (1023 * 1024**2 + 1000 * 1024, "1024 MiB"),
        (2 * 1024**3, "2 GiB"),
        (int(1.25 * 1024**3), "1.2 GiB"),
        (5000 * 1024**3, "5000 GiB"),
    ],
)
def test_a_size_reads_as_people_write_it(size, shown):
    assert in_bytes(size) == shown
