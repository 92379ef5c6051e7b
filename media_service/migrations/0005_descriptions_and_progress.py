"""Alt text and focal point (UpdateMedia), and the processing's progress,
which the change feed now publishes too (see 0004)."""

from peewee import Database, FloatField, SmallIntegerField, TextField
from playhouse.migrate import SchemaMigrator, migrate

from mesh.db import is_postgres

# 0004's trigger, firing on a change of progress as well.
TRIGGER_WITH_PROGRESS = """
    CREATE TRIGGER media_changed AFTER UPDATE ON media
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.post_id IS DISTINCT FROM NEW.post_id
                       OR OLD.processing_progress IS DISTINCT FROM NEW.processing_progress)
    EXECUTE FUNCTION media_publish_change()
"""
TRIGGER_WITHOUT_PROGRESS = """
    CREATE TRIGGER media_changed AFTER UPDATE ON media
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.post_id IS DISTINCT FROM NEW.post_id)
    EXECUTE FUNCTION media_publish_change()
"""


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("media", "description", TextField(null=True)),
        migrator.add_column("media", "focus_x", FloatField(null=True)),
        migrator.add_column("media", "focus_y", FloatField(null=True)),
        migrator.add_column("media", "processing_progress", SmallIntegerField(null=True)),
    )
    if is_postgres(db):
        db.execute_sql("DROP TRIGGER media_changed ON media")
        db.execute_sql(TRIGGER_WITH_PROGRESS)


def down(db: Database) -> None:
    if is_postgres(db):
        db.execute_sql("DROP TRIGGER media_changed ON media")
        db.execute_sql(TRIGGER_WITHOUT_PROGRESS)
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.drop_column("media", "processing_progress"),
        migrator.drop_column("media", "focus_y"),
        migrator.drop_column("media", "focus_x"),
        migrator.drop_column("media", "description"),
    )
