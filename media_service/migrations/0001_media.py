"""The media table."""

from peewee import (
    BigIntegerField,
    CharField,
    Database,
    DateTimeField,
    IntegerField,
    Model,
    TextField,
)


def _media(db: Database) -> type[Model]:
    class Media(Model):
        id = CharField(primary_key=True, max_length=36)
        owner_id = CharField(max_length=255)
        media_type = CharField(max_length=32)
        status = CharField(max_length=16)
        file_name = CharField(max_length=255)
        file_type = CharField(max_length=100)
        file_size = BigIntegerField()
        checksum_sha256 = CharField(max_length=64, null=True)
        storage_key = CharField(max_length=1024, unique=True)
        upload_id = CharField(max_length=1024, null=True)
        part_size = BigIntegerField(null=True)
        total_parts = IntegerField(null=True)
        etag = CharField(max_length=128, null=True)
        cdn_url = TextField(null=True)
        post_id = CharField(max_length=36, null=True, index=True)
        width = IntegerField(null=True)
        height = IntegerField(null=True)
        duration_ms = BigIntegerField(null=True)
        poster_url = TextField(null=True)
        blurhash = CharField(max_length=128, null=True)
        variants = TextField(default="[]")
        failure_reason = TextField(null=True)
        expires_at = DateTimeField()
        enqueued_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "media"
            indexes = ((("owner_id", "created_at"), False), (("status",), False))

    return Media


def up(db: Database) -> None:
    db.create_tables([_media(db)])


def down(db: Database) -> None:
    db.drop_tables([_media(db)])
