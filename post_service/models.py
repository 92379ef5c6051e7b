"""post_service's tables. The database is bound at start (`database.initialize`)."""

from peewee import CharField, DatabaseProxy, DateTimeField, Model, TextField

from mesh.db import utcnow

database = DatabaseProxy()


class PostStatus:
    """The saga's states; only PUBLISHED posts are visible to readers."""

    PENDING = "PENDING"  # recorded; media being attached
    PUBLISHED = "PUBLISHED"
    DELETING = "DELETING"  # deleted by its author, or failed: media being detached


class Post(Model):
    id = CharField(primary_key=True, max_length=36)
    author_id = CharField(max_length=255)
    content = TextField(default="")
    media_ids = TextField(default="[]")  # JSON list, in the author's order
    status = CharField(max_length=16)
    created_at = DateTimeField(default=utcnow)
    published_at = DateTimeField(null=True)
    idempotency_key = CharField(max_length=255, null=True)
    request_hash = CharField(max_length=64, null=True)

    class Meta:
        database = database
        table_name = "posts"
        indexes = (
            (("status", "created_at"), False),
            (("author_id", "idempotency_key"), True),
        )
