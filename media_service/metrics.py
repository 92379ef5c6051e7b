"""media_service's own Prometheus metrics (the RPC ones are mesh.metrics').

Counted where the thing happens: uploads where their status moves, jobs in
the worker, the janitor's actions per pass. The queue's depth is the
worker's (media_service.processing.queue_depth).
"""

from prometheus_client import Counter, Histogram

# An image takes a fraction of a second; a long video's transcode, up to an hour.
JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

UPLOADS = Counter(
    "media_uploads_total",
    "Upload sessions by how they ended: UPLOADED, REJECTED, ABORTED or EXPIRED.",
    ["outcome"],
)
REJECTIONS = Counter(
    "media_upload_rejections_total",
    "Uploads REJECTED at complete, by what did not match the declaration.",
    ["reason"],
)
UPLOADED_BYTES = Counter(
    "media_uploaded_bytes_total", "Bytes of verified (UPLOADED) originals.", ["media_type"]
)
JOBS = Counter(
    "media_processing_jobs_total",
    "Processing jobs by media kind and outcome: READY, FAILED, or retried (a transient fault).",
    ["kind", "outcome"],
)
JOB_SECONDS = Histogram(
    "media_processing_seconds",
    "Time a processing job took, by media kind (finished jobs only).",
    ["kind"],
    buckets=JOB_BUCKETS,
)
JANITOR_ACTIONS = Counter(
    "media_janitor_actions_total",
    "What the janitor did: expired, deleted_unattached, cleaned, queued.",
    ["action"],
)


def uploaded(media_type: str, size: int) -> None:
    UPLOADS.labels("UPLOADED").inc()
    UPLOADED_BYTES.labels(media_type).inc(size)


def rejected(reason: str) -> None:
    UPLOADS.labels("REJECTED").inc()
    REJECTIONS.labels(reason).inc()
