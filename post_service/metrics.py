"""post_service's own Prometheus metrics (the RPC ones are mesh.metrics')."""

from prometheus_client import Counter

SAGAS = Counter(
    "post_sagas_total",
    "CreatePost sagas by outcome: published; refused (media_service said no, "
    "nothing attached); undone (an outage mid-way, undone at once); left (the reconciler "
    "finishes undoing it).",
    ["outcome"],
)
REPAIRS = Counter(
    "post_reconciler_repairs_total",
    "Posts left half-done that the reconciler settled: published, undone, deleted; or left "
    "for its next pass (media_service unavailable), or an error.",
    ["outcome"],
)
