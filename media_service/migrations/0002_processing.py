"""What processing and cleaning record: the video codec, since when a media is
in no post, until when its presigned URLs may still be used, and when its
storage was emptied."""

from peewee import CharField, Database, DateTimeField
from playhouse.migrate import SchemaMigrator, migrate


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("media", "codec", CharField(max_length=32, null=True)),
        migrator.add_column("media", "unattached_since", DateTimeField(null=True)),
        migrator.add_column("media", "urls_expire_at", DateTimeField(null=True)),
        migrator.add_column("media", "cleaned_at", DateTimeField(null=True)),
    )


def down(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.drop_column("media", "cleaned_at"),
        migrator.drop_column("media", "urls_expire_at"),
        migrator.drop_column("media", "unattached_since"),
        migrator.drop_column("media", "codec"),
    )
