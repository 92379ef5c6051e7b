"""What processing and cleaning record: the video codec, and when the media's
storage was emptied after it ended."""

from peewee import CharField, Database, DateTimeField
from playhouse.migrate import SchemaMigrator, migrate


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("media", "codec", CharField(max_length=32, null=True)),
        migrator.add_column("media", "cleaned_at", DateTimeField(null=True)),
    )


def down(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.drop_column("media", "cleaned_at"), migrator.drop_column("media", "codec"))
