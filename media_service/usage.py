"""A user's byte quotas, counted from the media rows themselves.

    reserved  open sessions (PENDING, not yet expired): their declared size
    stored    completed media not deleted (UPLOADED, PROCESSING, READY, FAILED)
    daily     what was reserved or completed since midnight UTC, deleted media
              included (their bytes did go up that day)

Nothing is written to keep count: an abort, an expiry, a rejection or a
delete changes a media's status, and with it what counts. A completed upload
counts its declared size, which `complete` has checked is the stored size.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from media_service.config import UploadPolicy
from media_service.models import database
from media_service.status import VERIFIED, Status
from mesh.db import sql_for

DAILY = "daily-upload"
STORED = "stored"

_KEPT = ", ".join(f"'{status}'" for status in VERIFIED)
_RESERVED = f"(status = '{Status.PENDING}' AND expires_at > %s)"
# The bytes counted against each quota, for one owner. Params: owner, day start, now.
DAILY_TOTAL = (
    "SELECT COALESCE(SUM(file_size), 0) FROM media WHERE owner_id = %s AND created_at >= %s"
    f" AND (status IN ({_KEPT}, '{Status.DELETED}') OR {_RESERVED})"
)
# Params: owner, now.
STORED_TOTAL = (
    "SELECT COALESCE(SUM(file_size), 0) FROM media WHERE owner_id = %s"
    f" AND (status IN ({_KEPT}) OR {_RESERVED})"
)
# Both quotas' used and reserved bytes in one read. Params: now, now, day start,
# day start, owner.
_USAGE = (
    f"SELECT COALESCE(SUM(CASE WHEN {_RESERVED} THEN file_size ELSE 0 END), 0),"
    f" COALESCE(SUM(CASE WHEN {_RESERVED} AND created_at >= %s THEN file_size ELSE 0 END), 0),"
    f" COALESCE(SUM(CASE WHEN status IN ({_KEPT}) THEN file_size ELSE 0 END), 0),"
    f" COALESCE(SUM(CASE WHEN status IN ({_KEPT}, '{Status.DELETED}') AND created_at >= %s"
    " THEN file_size ELSE 0 END), 0)"
    " FROM media WHERE owner_id = %s"
)


@dataclass(frozen=True)
class Quota:
    name: str
    limit: int
    used: int
    reserved: int
    resets_at: datetime | None  # the daily one

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used - self.reserved)


@dataclass(frozen=True)
class Usage:
    daily: Quota
    stored: Quota


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def usage_of(user_id: str, policy: UploadPolicy, now: datetime) -> Usage:
    """Both quotas of `user_id` as they stand at `now` (UTC, naive)."""
    today = day_start(now)
    params = (now, now, today, today, user_id)
    reserved, reserved_today, stored, used_today = (
        int(value) for value in database.execute_sql(sql_for(database, _USAGE), params).fetchone()
    )
    return Usage(
        daily=Quota(
            DAILY, policy.daily_upload_bytes, used_today, reserved_today, today + timedelta(days=1)
        ),
        stored=Quota(STORED, policy.stored_bytes, stored, reserved, None),
    )


def in_bytes(size: int) -> str:
    """A size as people read it: 100 MiB, 1.5 GiB, 1000 MiB, 512 bytes (one
    decimal at most, never an exponent)."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{round(size / scale, 1):g} {unit}"
    return f"{size} bytes"
