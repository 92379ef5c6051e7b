"""media_service's tables. The database is bound at start (`database.initialize`)."""

from peewee import (
    BigIntegerField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
)

from mesh.db import utcnow

database = DatabaseProxy()


class Visibility:
    """Who may read a media's files (media_service.links hands out their URLs).

    PUBLIC: through the CDN, by anyone with the URL. PRIVATE: stored under
    `private/`, which the CDN does not serve; read only through presigned GETs
    given to its owner and to the readers of its post.
    """

    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


class Media(Model):
    id = CharField(primary_key=True, max_length=36)
    owner_id = CharField(max_length=255)
    media_type = CharField(max_length=32)
    status = CharField(max_length=16)  # media_service.status
    file_name = CharField(max_length=255)
    file_type = CharField(max_length=100)
    file_size = BigIntegerField()
    checksum_sha256 = CharField(max_length=64, null=True)
    storage_key = CharField(max_length=1024, index=True)  # shared by deduplicated media
    upload_id = CharField(max_length=1024, null=True)
    part_size = BigIntegerField(null=True)
    total_parts = IntegerField(null=True)
    part_checksums = TextField(null=True)  # JSON: each part's declared SHA-256, in order
    etag = CharField(max_length=128, null=True)
    cdn_url = TextField(null=True)
    post_id = CharField(max_length=36, null=True, index=True)
    width = IntegerField(null=True)
    height = IntegerField(null=True)
    duration_ms = BigIntegerField(null=True)
    codec = CharField(max_length=32, null=True)  # videos: ffprobe's codec_name
    poster_url = TextField(null=True)
    blurhash = CharField(max_length=128, null=True)
    # JSON list of {name, width, height, content_type, url, key}; `key` since 0006
    variants = TextField(default="[]")
    failure_reason = TextField(null=True)
    description = TextField(null=True)  # alt text
    focus_x = FloatField(null=True)  # focal point, -1..1
    focus_y = FloatField(null=True)
    processing_progress = SmallIntegerField(null=True)  # 0-100 while processing; 100 once READY
    visibility = CharField(max_length=8, default=Visibility.PUBLIC)
    expires_at = DateTimeField()
    enqueued_at = DateTimeField(null=True)
    unattached_since = DateTimeField(null=True)  # uploaded or detached, in no post since
    urls_expire_at = DateTimeField(null=True)  # the last presigned URL signed dies then
    cleaned_at = DateTimeField(null=True)  # storage emptied after the media ended
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    # Raised by the database on every update (see migration 0004): orders the
    # versions of a row that a watcher sees.
    version = BigIntegerField(default=0)

    class Meta:
        database = database
        table_name = "media"
        indexes = ((("owner_id", "created_at"), False), (("status",), False))
