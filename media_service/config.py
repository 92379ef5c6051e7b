"""media_service settings: read once from the environment, here and nowhere else."""

from collections.abc import Mapping
from dataclasses import dataclass

from mesh.config import AuthConfig, Env, MetricsConfig, ServerConfig, database_url

DEFAULT_PORT = 50051
DEFAULT_S3_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_BUCKET = "media"
DCI_8K_PIXELS = 8192 * 4320  # the largest frame a camera records today
GIB = 1024**3


@dataclass(frozen=True)
class StorageConfig:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str
    cdn_base_url: str
    presign_ttl_seconds: int
    private_url_ttl_seconds: int  # how long a private media's read URLs last


@dataclass(frozen=True)
class UploadPolicy:
    multipart_ttl_seconds: int  # part URLs last PRESIGN_TTL_SECONDS; resume renews them
    max_pending_per_user: int
    daily_upload_bytes: int  # declared bytes a user may upload per UTC day
    stored_bytes: int  # bytes a user may keep


@dataclass(frozen=True)
class WatchPolicy:
    keepalive_seconds: int  # the longest quiet spell on a WatchMedia stream
    per_user: int  # streams one user may have open at once, on all processes
    per_process: int  # streams one serving process holds (each holds a thread)


@dataclass(frozen=True)
class ProcessingConfig:
    image_max_pixels: int  # larger images fail before any pixel is decoded
    video_max_pixels: int  # likewise for every frame of a video
    ffmpeg_timeout_seconds: int
    unattached_ttl_seconds: int  # media in no post are deleted after this
    janitor_interval_seconds: int
    fault: str  # testing only: a worker exits ("crash-…") or stalls ("stall-…") mid-job


@dataclass(frozen=True)
class MediaConfig:
    server: ServerConfig
    metrics: MetricsConfig  # of the server
    worker_metrics: MetricsConfig  # of `python -m media_service.worker`, with its probes
    auth: AuthConfig
    database_url: str
    storage: StorageConfig
    uploads: UploadPolicy
    watch: WatchPolicy
    processing: ProcessingConfig
    broker_url: str | None  # None: the embedded in-process worker
    queue_name: str
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "MediaConfig":
        env = Env(environ)
        endpoint = env.url("S3_ENDPOINT_URL", DEFAULT_S3_ENDPOINT, schemes=("http", "https"))
        bucket = env.text("S3_BUCKET", DEFAULT_BUCKET)
        broker_url = env.optional("BROKER_URL")
        if broker_url:
            env.url("BROKER_URL", broker_url, schemes=("amqp", "amqps", "redis", "rediss"))
        return cls(
            server=ServerConfig.from_env(env, "MEDIA_SERVICE_PORT", DEFAULT_PORT),
            metrics=MetricsConfig.from_env(env, "MEDIA_SERVICE_METRICS_PORT", 9464),
            worker_metrics=MetricsConfig.from_env(env, "WORKER_METRICS_PORT", 9466),
            auth=AuthConfig.from_env(env),
            database_url=database_url(env, "media.db"),
            storage=StorageConfig(
                endpoint_url=endpoint,
                access_key_id=env.text("S3_ACCESS_KEY_ID", "local"),
                secret_access_key=env.text("S3_SECRET_ACCESS_KEY", "local"),
                region=env.text("S3_REGION", "auto"),
                bucket=bucket,
                cdn_base_url=env.text("CDN_BASE_URL", f"{endpoint}/{bucket}").rstrip("/"),
                presign_ttl_seconds=env.integer("PRESIGN_TTL_SECONDS", 900, minimum=1),
                # A presigned URL lasts at most a week (SigV4).
                private_url_ttl_seconds=env.integer(
                    "PRIVATE_URL_TTL_SECONDS", 600, minimum=1, maximum=7 * 86_400
                ),
            ),
            uploads=UploadPolicy(
                multipart_ttl_seconds=env.integer(
                    "MULTIPART_SESSION_TTL_SECONDS", 86_400, minimum=1
                ),
                max_pending_per_user=env.integer("MAX_PENDING_UPLOADS", 20, minimum=1),
                daily_upload_bytes=env.integer("QUOTA_DAILY_UPLOAD_BYTES", 2 * GIB, minimum=1),
                stored_bytes=env.integer("QUOTA_STORED_BYTES", 20 * GIB, minimum=1),
            ),
            watch=WatchPolicy(
                keepalive_seconds=env.integer("WATCH_KEEPALIVE_SECONDS", 10, minimum=1),
                per_user=env.integer("WATCH_STREAMS_PER_USER", 10, minimum=1),
                per_process=env.integer("WATCH_STREAMS_PER_PROCESS", 500, minimum=1),
            ),
            processing=ProcessingConfig(
                image_max_pixels=env.integer("IMAGE_MAX_PIXELS", 100_000_000, minimum=1),
                video_max_pixels=env.integer("VIDEO_MAX_PIXELS", DCI_8K_PIXELS, minimum=1),
                ffmpeg_timeout_seconds=env.integer("FFMPEG_TIMEOUT_SECONDS", 120, minimum=1),
                unattached_ttl_seconds=env.integer("UNATTACHED_TTL", 86_400, minimum=1),
                janitor_interval_seconds=env.integer("JANITOR_INTERVAL_SECONDS", 300, minimum=1),
                fault=env.choice("PROCESSING_FAULT", PROCESSING_FAULTS),
            ),
            broker_url=broker_url,
            queue_name=env.text("PROCESSING_QUEUE", "media-processing"),
            log_level=env.text("LOG_LEVEL", "INFO"),
        )


PROCESSING_FAULTS = ("crash-after-claimed", "stall-after-claimed")
