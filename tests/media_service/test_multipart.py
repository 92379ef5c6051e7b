"""The part-size policy."""

import pytest

from media_formats.part_layout import MAX_PARTS, MIN_PART_SIZE, layout_for

MIB = 1024 * 1024


@pytest.mark.parametrize(
    "size, part_size, parts",
    [
        (5 * MIB + 1, 8 * MIB, 1),
        (17 * MIB, 8 * MIB, 3),
        (2 * 1024 * MIB, 8 * MIB, 256),
        (80_000 * MIB, 8 * MIB, 10_000),
        (80_000 * MIB + 1, 9 * MIB, 8_889),
    ],
)
def test_parts_are_8_mib_grown_to_stay_within_10000(size, part_size, parts):
    layout = layout_for(size)

    assert (layout.part_size, layout.total_parts) == (part_size, parts)
    assert layout.part_size >= MIN_PART_SIZE and layout.total_parts <= MAX_PARTS


def test_the_last_part_holds_the_remainder():
    layout = layout_for(17 * MIB)

    assert [layout.length_of(n) for n in (1, 2, 3)] == [8 * MIB, 8 * MIB, 1 * MIB]
    assert sum(layout.length_of(n) for n in range(1, 4)) == 17 * MIB
