"""The media state machine: its moves, its groups, and `move` on each database."""

from collections.abc import Iterator

import pytest

from media_service import status as machine
from media_service.models import Media, database
from media_service.status import MOVES, IllegalMove, Status, move
from tests.support import media_tables, pending_row


@pytest.fixture
def media_table(database_url: str) -> Iterator[None]:
    with media_tables(database_url), database.connection_context():
        yield


def _media(status: Status, owner: str = "alice") -> str:
    row = pending_row(owner)
    Media.insert({**row, "status": status}).execute()
    return str(row["id"])


def _status(media_id: str) -> str:
    return str(Media.get_by_id(media_id).status)


def test_every_status_has_its_moves_and_only_deleted_is_a_dead_end():
    assert set(MOVES) == set(Status)
    assert [s for s, targets in MOVES.items() if not targets] == [Status.DELETED]
    assert all(Status.DELETED in MOVES[s] for s in Status if s != Status.DELETED)


def test_nothing_moves_back_to_pending_and_ended_media_only_get_deleted():
    assert not any(Status.PENDING in targets for targets in MOVES.values())
    for ended in machine.ENDED:
        assert MOVES[ended] <= {Status.DELETED}


def test_the_groups_are_the_statuses_they_name():
    assert machine.VERIFIED == (Status.UPLOADED, Status.PROCESSING, Status.READY, Status.FAILED)
    assert set(machine.ATTACHABLE) == set(machine.VERIFIED) - {Status.FAILED}
    assert set(machine.LIVE) | set(machine.ENDED) == set(Status)
    assert not set(machine.LIVE) & set(machine.ENDED)
    assert set(machine.SETTLED) == set(Status) - {
        Status.PENDING,
        Status.UPLOADED,
        Status.PROCESSING,
    }


def test_a_move_changes_the_status_and_the_fields_given(media_table):
    media_id = _media(Status.PENDING)
    before = Media.get_by_id(media_id).updated_at

    moved = move(Media.id == media_id, Status.PENDING, Status.REJECTED, failure_reason="too big")

    after = Media.get_by_id(media_id)
    assert moved == 1
    assert (after.status, after.failure_reason) == (Status.REJECTED, "too big")
    assert after.updated_at > before


def test_a_move_from_a_status_the_media_has_left_moves_nothing(media_table):
    media_id = _media(Status.ABORTED)

    assert move(Media.id == media_id, Status.PENDING, Status.UPLOADED) == 0
    assert _status(media_id) == Status.ABORTED


def test_a_move_from_several_statuses_takes_each_of_them(media_table):
    ids = [_media(s) for s in (Status.UPLOADED, Status.PROCESSING, Status.READY)]

    moved = move(Media.id.in_(ids), (Status.UPLOADED, Status.PROCESSING), Status.PROCESSING)

    assert moved == 2
    assert [_status(i) for i in ids] == [Status.PROCESSING, Status.PROCESSING, Status.READY]


def test_a_status_read_from_a_row_is_accepted_as_the_source(media_table):
    media_id = _media(Status.READY)
    read = Media.get_by_id(media_id).status  # a plain str, not a Status

    assert move(Media.id == media_id, read, Status.DELETED) == 1
    assert _status(media_id) == Status.DELETED


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Status.READY, Status.PENDING),
        (Status.DELETED, Status.READY),
        (Status.REJECTED, Status.UPLOADED),
        (Status.PENDING, Status.READY),
    ],
)
def test_a_move_the_machine_does_not_have_is_refused_before_any_write(media_table, source, target):
    media_id = _media(source)

    with pytest.raises(IllegalMove) as refused:
        move(Media.id == media_id, source, target)

    assert str(refused.value) == f"{source} → {target} is not a move of a media"
    assert _status(media_id) == source


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="'DONE' is not a valid Status"):
        move(Media.id == "x", "DONE", Status.DELETED)
