"""When the janitor (or the request that ended a media) emptied its storage."""

from peewee import Database, DateTimeField
from playhouse.migrate import SchemaMigrator, migrate


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column("media", "cleaned_at", DateTimeField(null=True)))


def down(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.drop_column("media", "cleaned_at"))
