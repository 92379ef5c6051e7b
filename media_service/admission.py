"""Admitting a new upload: the caller's cap and the PENDING record, in one go.

The cap counts the caller's uploads that can still write to storage: open
sessions, and ended ones (aborted, deleted, ...) whose presigned URLs have not
expired yet (counting only open sessions would let create + abort cycles mint
live URLs without limit).

The count and the insert are one statement, run serialised per user
(`mesh.db.insert_serialized`): one round trip to PostgreSQL, exact however
many of one user's requests race. It writes only while the call still waits
for it (`mesh.db.while_awaited`), so a stalled database cannot record a
session its caller was told had failed. The statement is SQL written once
here, not built per call: building it was a fifth of a session's CPU.
"""

import functools
from datetime import datetime
from typing import Any

from media_service.models import Media, Status, database
from mesh.db import DATABASE_UNAVAILABLE, insert_serialized, sql_for, while_awaited
from mesh.errors import Unavailable

_ENDED = ", ".join(f"'{status}'" for status in Status.ENDED)
# How many of a user's uploads can still write to storage. Params: owner, now, now.
WRITABLE = (
    "SELECT COUNT(*) FROM media WHERE owner_id = %s AND ("
    "(status = 'PENDING' AND expires_at > %s)"
    f" OR (status IN ({_ENDED}) AND urls_expire_at > %s))"
)


@functools.cache
def _insert(columns: tuple[str, ...], guard: str) -> str:
    """Params: the columns' values, then WRITABLE's, the limit, then the guard's."""
    return (
        f"INSERT INTO media ({', '.join(columns)}) SELECT {', '.join(['%s'] * len(columns))} "
        f"WHERE ({WRITABLE}) < %s AND {guard} RETURNING id"
    )


def admit(row: dict[str, Any], limit: int, now: datetime) -> Media | None:
    """Insert a new PENDING media (`row`: its fields) unless its owner already
    has `limit` writable uploads; the media, or None when refused.
    Unavailable if the database ran the statement too late to count."""
    media = Media(**row)
    owner = media.owner_id
    guard, guard_params = while_awaited(database)
    given = [f for f in Media._meta.sorted_fields if getattr(media, f.name) is not None]
    sql = _insert(tuple(f.column_name for f in given), guard)
    params = [f.db_value(getattr(media, f.name)) for f in given]
    if insert_serialized(
        database, f"pending-uploads:{owner}", sql, [*params, owner, now, now, limit, *guard_params]
    ):
        return media
    if writable_uploads(owner, now) < limit:
        # Under the cap, so the time guard stopped it: the answer came too late.
        raise Unavailable(DATABASE_UNAVAILABLE)
    return None


def writable_uploads(user_id: str, now: datetime) -> int:
    cursor = database.execute_sql(sql_for(database, WRITABLE), (user_id, now, now))
    return int(cursor.fetchone()[0])
