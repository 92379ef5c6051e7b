"""Page sizes and cursors."""

from datetime import datetime

import pytest

from mesh import paging
from mesh.errors import InvalidArgument


@pytest.mark.parametrize("requested, size", [(0, 20), (1, 1), (100, 100), (5000, 100)])
def test_page_size_defaults_and_caps(requested, size):
    assert paging.page_size(requested) == size


def test_a_negative_page_size_is_refused():
    with pytest.raises(InvalidArgument, match="pageSize must not be negative, got -1"):
        paging.page_size(-1)


def test_a_cursor_round_trips():
    at = datetime(2026, 11, 25, 10, 0, 0, 123456)

    assert paging.decode_cursor(paging.encode_cursor(at, "id-1")) == (at, "id-1")


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!",
        "bm90IGpzb24=",
        "WzFd",
        paging.encode_cursor(datetime(2026, 1, 1), "x" * 37),
        paging.encode_cursor(datetime(2026, 1, 1), "id\x00"),
        "A" * 10_000,
    ],
    ids=["not-base64", "not-json", "not-a-pair", "long-id", "nul-in-id", "huge"],
)
def test_a_forged_cursor_is_refused(token):
    with pytest.raises(InvalidArgument, match="pageToken is not a token this server issued"):
        paging.decode_cursor(token)
