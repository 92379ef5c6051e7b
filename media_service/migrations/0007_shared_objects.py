"""Dedup: several media may share one stored original (media_service/dedup.py),
so a storage key is no longer unique; it stays indexed, for finding the
sharers of a key and the twin of a file by its checksum."""

from peewee import Database

# peewee's name for the unique index 0001 made on media.storage_key.
UNIQUE_KEY_INDEX = "media_storage_key"


def up(db: Database) -> None:
    db.execute_sql(f"DROP INDEX IF EXISTS {UNIQUE_KEY_INDEX}")
    db.execute_sql(f"CREATE INDEX {UNIQUE_KEY_INDEX} ON media (storage_key)")
    db.execute_sql(
        "CREATE INDEX media_by_checksum ON media (owner_id, checksum_sha256) "
        "WHERE checksum_sha256 IS NOT NULL"
    )


def down(db: Database) -> None:
    db.execute_sql("DROP INDEX IF EXISTS media_by_checksum")
    db.execute_sql(f"DROP INDEX IF EXISTS {UNIQUE_KEY_INDEX}")
    db.execute_sql(f"CREATE UNIQUE INDEX {UNIQUE_KEY_INDEX} ON media (storage_key)")
