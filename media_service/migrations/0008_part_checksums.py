"""The SHA-256 of each part a multipart upload declared (a JSON list, in part
order), bound into its part URLs and checked at complete."""

from peewee import Database, TextField
from playhouse.migrate import SchemaMigrator, migrate


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column("media", "part_checksums", TextField(null=True)))


def down(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.drop_column("media", "part_checksums"))
