"""What WatchMedia needs from the database: each media row's version, the
change feed, and the open streams of each user.

- `media.version` goes up by one on every update, set by the database itself,
  so a watcher orders the versions it sees (its first read, then the feed)
  exactly, whichever process wrote them and whatever their clocks say.
- PostgreSQL publishes every committed change of a media's status or post on
  the channel `media_changes`: the new row as JSON, or only its id when the
  row is too large for a notification (the listener then reads it). SQLite has
  no notifications: each process reads the rows its watchers follow instead
  (media_service/changes.py).
- `media_watches`: one row per open stream, refreshed while it is open, so
  that the cap on a user's streams holds across every serving process.
"""

from peewee import Database

from mesh.db import is_postgres

CHANNEL = "media_changes"
# PostgreSQL refuses a notification payload of 8,000 bytes or more.
MAX_PAYLOAD_BYTES = 7900

POSTGRES = [
    "ALTER TABLE media ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
    """
    CREATE OR REPLACE FUNCTION media_next_version() RETURNS trigger AS $$
    BEGIN
        NEW.version := OLD.version + 1;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER media_version BEFORE UPDATE ON media
    FOR EACH ROW EXECUTE FUNCTION media_next_version()
    """,
    f"""
    CREATE OR REPLACE FUNCTION media_publish_change() RETURNS trigger AS $$
    DECLARE
        payload text := row_to_json(NEW)::text;
    BEGIN
        IF octet_length(payload) > {MAX_PAYLOAD_BYTES} THEN
            payload := json_build_object('id', NEW.id)::text;
        END IF;
        PERFORM pg_notify('{CHANNEL}', payload);
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER media_changed AFTER UPDATE ON media
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.post_id IS DISTINCT FROM NEW.post_id)
    EXECUTE FUNCTION media_publish_change()
    """,
]

SQLITE = [
    "ALTER TABLE media ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    # Triggers do not fire themselves again (recursive_triggers is off).
    """
    CREATE TRIGGER media_version AFTER UPDATE ON media
    BEGIN
        UPDATE media SET version = OLD.version + 1 WHERE id = NEW.id;
    END
    """,
]

WATCHES = [
    """
    CREATE TABLE media_watches (
        id VARCHAR(36) PRIMARY KEY,
        user_id VARCHAR(255) NOT NULL,
        opened_at TIMESTAMP NOT NULL,
        seen_at TIMESTAMP NOT NULL
    )
    """,
    "CREATE INDEX media_watches_by_user ON media_watches (user_id, seen_at)",
    "CREATE INDEX media_watches_by_seen ON media_watches (seen_at)",
]


def up(db: Database) -> None:
    for sql in (POSTGRES if is_postgres(db) else SQLITE) + WATCHES:
        db.execute_sql(sql)


def down(db: Database) -> None:
    db.execute_sql("DROP TABLE IF EXISTS media_watches")
    if is_postgres(db):
        db.execute_sql("DROP TRIGGER IF EXISTS media_changed ON media")
        db.execute_sql("DROP TRIGGER IF EXISTS media_version ON media")
        db.execute_sql("DROP FUNCTION IF EXISTS media_publish_change()")
        db.execute_sql("DROP FUNCTION IF EXISTS media_next_version()")
    else:
        db.execute_sql("DROP TRIGGER IF EXISTS media_version")
    db.execute_sql("ALTER TABLE media DROP COLUMN version")
