"""Private media: who may read a media's files. Every media recorded before
is PUBLIC, as all media were then."""

from peewee import Database
from playhouse.migrate import SchemaMigrator, migrate

# A constant default: PostgreSQL (11+) records it without rewriting the table.
ADD_COLUMN = "ALTER TABLE media ADD COLUMN visibility VARCHAR(8) NOT NULL DEFAULT 'PUBLIC'"


def up(db: Database) -> None:
    db.execute_sql(ADD_COLUMN)


def down(db: Database) -> None:
    migrate(SchemaMigrator.from_database(db).drop_column("media", "visibility"))
