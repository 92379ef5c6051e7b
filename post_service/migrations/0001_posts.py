"""The posts table."""

from peewee import CharField, Database, DateTimeField, Model, TextField


def _posts(db: Database) -> type[Model]:
    class Post(Model):
        id = CharField(primary_key=True, max_length=36)
        author_id = CharField(max_length=255)
        content = TextField(default="")
        media_ids = TextField(default="[]")
        status = CharField(max_length=16)
        created_at = DateTimeField()
        published_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "posts"
            indexes = ((("status", "created_at"), False),)

    return Post


def up(db: Database) -> None:
    db.create_tables([_posts(db)])


def down(db: Database) -> None:
    db.drop_tables([_posts(db)])
