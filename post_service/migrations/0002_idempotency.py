"""Idempotency keys of CreatePost: one post per (author, key)."""

from peewee import CharField, Database
from playhouse.migrate import SchemaMigrator, migrate


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("posts", "idempotency_key", CharField(max_length=255, null=True)),
        migrator.add_column("posts", "request_hash", CharField(max_length=64, null=True)),
        migrator.add_index("posts", ("author_id", "idempotency_key"), unique=True),
    )


def down(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.drop_index("posts", "posts_author_id_idempotency_key"),
        migrator.drop_column("posts", "request_hash"),
        migrator.drop_column("posts", "idempotency_key"),
    )
