"""Admitting a new upload: the caller's limits and the PENDING record, in one go.

Three limits hold for each user:
- the cap on uploads that can still write to storage: open sessions, and ended
  ones (aborted, deleted, ...) whose presigned URLs have not expired yet
  (counting only open sessions would let create + abort cycles mint live URLs
  without limit);
- the daily upload quota and the stored quota (media_service.usage): the new
  session's declared size is reserved against both.

The checks and the insert are one statement, run serialised per user
(`mesh.db.insert_serialized`): one round trip to PostgreSQL, exact however
many of one user's requests race. It writes only while the call still waits
for it (`mesh.db.while_awaited`), so a stalled database cannot record a
session its caller was told had failed. The statement is SQL written once
here, not built per call: building it was a fifth of a session's CPU.
"""

import functools
from datetime import datetime
from typing import Any

from google.rpc import error_details_pb2

from media_service.config import UploadPolicy
from media_service.models import Media, database
from media_service.reasons import MediaReason
from media_service.status import ENDED
from media_service.usage import (
    DAILY,
    DAILY_TOTAL,
    STORED_TOTAL,
    Quota,
    day_start,
    in_bytes,
    usage_of,
)
from mesh.db import DATABASE_UNAVAILABLE, insert_serialized, sql_for, while_awaited
from mesh.errors import MeshError, Reason, ResourceExhausted, Unavailable

_ENDED = ", ".join(f"'{status}'" for status in ENDED)
# How many of a user's uploads can still write to storage. Params: owner, now, now.
WRITABLE = (
    "SELECT COUNT(*) FROM media WHERE owner_id = %s AND ("
    "(status = 'PENDING' AND expires_at > %s)"
    f" OR (status IN ({_ENDED}) AND urls_expire_at > %s))"
)


@functools.cache
def _insert(columns: tuple[str, ...], guard: str) -> str:
    """Params: the columns' values, then WRITABLE's and the cap, DAILY_TOTAL's,
    the size and the daily quota, STORED_TOTAL's, the size and the stored
    quota, then the guard's."""
    return (
        f"INSERT INTO media ({', '.join(columns)}) SELECT {', '.join(['%s'] * len(columns))} "
        f"WHERE ({WRITABLE}) < %s AND ({DAILY_TOTAL}) + %s <= %s AND ({STORED_TOTAL}) + %s <= %s"
        f" AND {guard} RETURNING id"
    )


def admit(row: dict[str, Any], policy: UploadPolicy, now: datetime) -> Media:
    """Insert a new PENDING media (`row`: its fields) unless its owner is at a
    limit; the media, or ResourceExhausted naming the limit. Unavailable if
    the database ran the statement too late to count."""
    media = Media(**row)
    owner, size = media.owner_id, media.file_size
    guard, guard_params = while_awaited(database)
    given = [f for f in Media._meta.sorted_fields if getattr(media, f.name) is not None]
    sql = _insert(tuple(f.column_name for f in given), guard)
    params = [
        *(f.db_value(getattr(media, f.name)) for f in given),
        *(owner, now, now, policy.max_pending_per_user),
        *(owner, day_start(now), now, size, policy.daily_upload_bytes),
        *(owner, now, size, policy.stored_bytes),
        *guard_params,
    ]
    if insert_serialized(database, f"pending-uploads:{owner}", sql, params):
        return media
    raise _refusal(media, policy, now)


def _refusal(media: Media, policy: UploadPolicy, now: datetime) -> MeshError:
    """Why the insert wrote nothing, as the caller should hear it."""
    usage = usage_of(media.owner_id, policy, now)
    for quota in (usage.daily, usage.stored):
        if media.file_size > quota.remaining:
            return quota_exceeded(quota, media.file_size)
    if writable_uploads(media.owner_id, now) >= policy.max_pending_per_user:
        url_minutes = -(-(row_time(media.urls_expire_at) - now).total_seconds() // 60)
        return ResourceExhausted(
            too_many_pending(policy.max_pending_per_user, int(url_minutes)),
            reason=MediaReason.TOO_MANY_PENDING,
            metadata={"limit": policy.max_pending_per_user},
        )
    # Within every limit, so the time guard stopped it: the answer came too late.
    return Unavailable(DATABASE_UNAVAILABLE, reason=Reason.DATABASE_UNAVAILABLE)


def row_time(value: datetime | None) -> datetime:
    assert value is not None, "set on every new row"
    return value


def quota_exceeded(quota: Quota, size: int) -> ResourceExhausted:
    """RESOURCE_EXHAUSTED naming the quota and what is left: DAILY_QUOTA_EXCEEDED
    or STORED_QUOTA_EXCEEDED {limit, remaining, resetsAt (daily)} and a
    google.rpc.QuotaFailure detail for programs."""
    left = f"{in_bytes(quota.remaining)} of {in_bytes(quota.limit)} left"
    if quota.resets_at is not None:
        left += f" today (it starts afresh at {quota.resets_at:%Y-%m-%d %H:%M} UTC)"
    message = f"{quota.name} quota exceeded: this upload declares {in_bytes(size)}, {left}"
    violation = error_details_pb2.QuotaFailure.Violation(
        subject=quota.name, description=f"{quota.remaining} bytes left of {quota.limit}"
    )
    metadata: dict[str, str | int] = {"limit": quota.limit, "remaining": quota.remaining}
    if quota.resets_at is not None:
        metadata["resetsAt"] = f"{quota.resets_at:%Y-%m-%dT%H:%M:%SZ}"
    return ResourceExhausted(
        message,
        reason=(
            MediaReason.DAILY_QUOTA_EXCEEDED
            if quota.name == DAILY
            else MediaReason.STORED_QUOTA_EXCEEDED
        ),
        metadata=metadata,
        details=[error_details_pb2.QuotaFailure(violations=[violation])],
    )


def too_many_pending(limit: int, url_minutes: int) -> str:
    return (
        f"too many uploads in progress: at most {limit} per user whose upload URLs "
        f"can still be used; complete one, or wait for the URLs of aborted or "
        f"deleted ones to expire (within {url_minutes} minutes)"
    )


def writable_uploads(user_id: str, now: datetime) -> int:
    cursor = database.execute_sql(sql_for(database, WRITABLE), (user_id, now, now))
    return int(cursor.fetchone()[0])
