"""Indexes that keep counting a user's writable uploads (the session cap,
media_service/admission.py) as cheap with a million rows as with none: only
the rows that can count are indexed, by owner and by when they stop counting.
"""

from peewee import Database

# The statuses of media_service.status.ENDED at this version.
ENDED = "('EXPIRED', 'REJECTED', 'ABORTED', 'DELETED')"


def up(db: Database) -> None:
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS media_pending_by_owner ON media (owner_id, expires_at) "
        "WHERE status = 'PENDING'"
    )
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS media_ended_by_owner ON media (owner_id, urls_expire_at) "
        f"WHERE status IN {ENDED}"
    )


def down(db: Database) -> None:
    db.execute_sql("DROP INDEX IF EXISTS media_ended_by_owner")
    db.execute_sql("DROP INDEX IF EXISTS media_pending_by_owner")
