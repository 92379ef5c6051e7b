"""A media's status: the values, the moves allowed between them, the named
groups, and `move`, the one way any module changes a media's status.

                  ┌──complete: checks fail──▶ REJECTED ───────┐
                  ├──abort──────────────────▶ ABORTED ────────┤
                  ├──janitor: session stale─▶ EXPIRED ────────┤
    create ──▶ PENDING                                        ├──delete──▶ DELETED
                  │                                           │
                  └──complete: checks pass──▶ UPLOADED        │
                                                 │ claim      │
                                                 ▼            │
                            (job redelivered) PROCESSING ─────┤  delete, or the janitor:
                                                 │            │  in no post for
                                           ┌─────┴─────┐      │  UNATTACHED_TTL
                                           ▼           ▼      │
                                         READY       FAILED ──┘

A media whose original is a deduplicated copy is created READY (no move).
Attachment to a post is `post_id`, separate from status (ATTACHABLE).

Every move is a conditional UPDATE (`WHERE status IN (from)`): of racing
requests, jobs and janitor passes exactly one makes each move, and the
others see it did not happen and read what did.
"""

from collections.abc import Iterable
from enum import StrEnum

from peewee import Expression

from media_service.models import Media
from mesh.db import utcnow


class Status(StrEnum):
    PENDING = "PENDING"  # session issued
    UPLOADED = "UPLOADED"  # verified in storage
    PROCESSING = "PROCESSING"  # job claimed it
    READY = "READY"  # outputs made
    FAILED = "FAILED"  # the file cannot be processed (failure_reason)
    EXPIRED = "EXPIRED"  # never completed
    ABORTED = "ABORTED"  # the client gave up
    REJECTED = "REJECTED"  # the object failed complete's checks (failure_reason)
    DELETED = "DELETED"


# Passed complete's checks and not ended: what counts against a quota, what
# complete answers again as done, what the janitor deletes when in no post.
# (The groups are tuples in the machine's order, so a message listing one reads the same each time.)
VERIFIED = (Status.UPLOADED, Status.PROCESSING, Status.READY, Status.FAILED)
ATTACHABLE = (Status.UPLOADED, Status.PROCESSING, Status.READY)
# Ended before or instead of becoming media: their storage is emptied by the janitor.
ENDED = (Status.EXPIRED, Status.REJECTED, Status.ABORTED, Status.DELETED)
# Not ended: its owner may still describe it.
LIVE = (Status.PENDING, *VERIFIED)
# Nothing more happens to these by itself: a watcher of them has seen it all.
SETTLED = (Status.READY, Status.FAILED, *ENDED)

MOVES: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset(
        {Status.UPLOADED, Status.REJECTED, Status.ABORTED, Status.EXPIRED, Status.DELETED}
    ),
    Status.UPLOADED: frozenset({Status.PROCESSING, Status.DELETED}),
    # PROCESSING → PROCESSING: a redelivered job claims its media again.
    Status.PROCESSING: frozenset({Status.PROCESSING, Status.READY, Status.FAILED, Status.DELETED}),
    Status.READY: frozenset({Status.DELETED}),
    Status.FAILED: frozenset({Status.DELETED}),
    Status.EXPIRED: frozenset({Status.DELETED}),
    Status.REJECTED: frozenset({Status.DELETED}),
    Status.ABORTED: frozenset({Status.DELETED}),
    Status.DELETED: frozenset(),
}


class IllegalMove(Exception):
    """A move the machine does not have: a bug in the caller, never the client's."""


def move(where: Expression, from_: str | Iterable[str], to: Status, **fields: object) -> int:
    """Move the media matching `where` that are still in `from_` to `to`,
    setting `fields` too; the number moved (0: something else moved it first)."""
    # A status read from a row is a plain str: Status() checks it is one.
    sources = frozenset([Status(from_)] if isinstance(from_, str) else map(Status, from_))
    illegal = sorted(source for source in sources if to not in MOVES[source])
    if illegal:
        raise IllegalMove(f"{', '.join(illegal)} → {to} is not a move of a media")
    return int(
        Media.update(status=to, updated_at=utcnow(), **fields)
        .where(where & Media.status.in_(sorted(sources)))
        .execute()
    )
