"""Alt text and focal point on the record itself, on each database: what each
status allows, and that a refusal writes nothing."""

import math
from collections.abc import Iterator

import pytest

from media_service import descriptions
from media_service.descriptions import Focus
from media_service.models import Media, database
from media_service.status import Status
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.support import media_tables, pending_row


@pytest.fixture
def media_table(database_url: str) -> Iterator[None]:
    with media_tables(database_url), database.connection_context():
        yield


def _media(status: str = Status.READY, owner: str = "alice") -> Media:
    row = pending_row(owner)
    Media.insert({**row, "status": status}).execute()
    return Media.get_by_id(row["id"])


def _shown(media_id: str) -> tuple[object, ...]:
    media = Media.get_by_id(media_id)
    return media.description, media.focus_x, media.focus_y, media.updated_at


@pytest.mark.parametrize(
    "status",
    [Status.PENDING, Status.UPLOADED, Status.PROCESSING, Status.READY, Status.FAILED],
)
def test_media_that_has_not_ended_can_be_updated(media_table, status):
    media = _media(status)

    updated = descriptions.update("alice", media.id, "a dog", Focus(-1.0, 1.0))

    assert (updated.description, updated.focus_x, updated.focus_y) == ("a dog", -1.0, 1.0)
    assert updated.status == status
    assert updated.updated_at > media.updated_at


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.ABORTED, Status.REJECTED])
def test_ended_media_is_refused_naming_its_status_and_left_as_it_was(media_table, status):
    media = _media(status)
    before = _shown(media.id)

    with pytest.raises(FailedPrecondition) as refused:
        descriptions.update("alice", media.id, "a dog")

    assert refused.value.message == (
        f"media {media.id} is {status}; only PENDING, UPLOADED, PROCESSING, READY or FAILED "
        "media can be updated"
    )
    assert _shown(media.id) == before


@pytest.mark.parametrize("owner, status", [("bob", Status.READY), ("alice", Status.DELETED)])
def test_another_users_or_a_deleted_media_is_not_found(media_table, owner, status):
    media = _media(status, owner=owner)
    before = _shown(media.id)

    with pytest.raises(NotFound) as refused:
        descriptions.update("alice", media.id, "a dog")

    assert refused.value.message == f"media {media.id} not found"
    assert _shown(media.id) == before


def test_a_field_left_out_stays_and_an_empty_description_clears(media_table):
    media = _media()
    descriptions.update("alice", media.id, "a dog", Focus(0.5, 0.5))

    descriptions.update("alice", media.id, focus=Focus(0.0, -0.25))
    assert _shown(media.id)[:3] == ("a dog", 0.0, -0.25)

    descriptions.update("alice", media.id, description="")
    assert _shown(media.id)[:3] == (None, 0.0, -0.25)


@pytest.mark.parametrize(
    "description, focus, message",
    [
        (None, None, "nothing to update: give description, focus or both"),
        ("x" * 1501, None, "description is 1501 characters; at most 1500 are allowed"),
        ("ok", Focus(1.5, 0.0), "focus.x must be between -1 and 1, got 1.5"),
        ("ok", Focus(0.0, -2.0), "focus.y must be between -1 and 1, got -2"),
        ("ok", Focus(math.nan, 0.0), "focus.x must be between -1 and 1, got NaN"),
        ("ok", Focus(0.0, math.inf), "focus.y must be between -1 and 1, got Infinity"),
    ],
)
def test_a_bad_update_is_refused_and_writes_nothing(media_table, description, focus, message):
    media = _media()
    before = _shown(media.id)

    with pytest.raises(InvalidArgument) as refused:
        descriptions.update("alice", media.id, description, focus)

    assert refused.value.message == message
    assert _shown(media.id) == before


def test_description_length_counts_code_points_not_bytes(media_table):
    media = _media()
    description = "\N{CAT FACE}" * 1500  # 6,000 bytes of UTF-8

    updated = descriptions.update("alice", media.id, description)

    assert updated.description == description


@pytest.mark.parametrize(
    "value, shown",
    [
        (1.100000023841858, "1.1"),  # the float nearest 1.1: shown as the caller wrote it
        (1.0000001192092896, "1.0000001"),  # just over 1: never rounded to "1"
        (-3.0, "-3"),
        (1e39, "1e+39"),
    ],
)
def test_a_refused_value_is_shown_as_the_caller_wrote_it(value, shown):
    assert descriptions._shown(value) == shown
