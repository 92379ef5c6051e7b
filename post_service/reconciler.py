"""Settles sagas that a crash or an outage left half done (see posts.py).

    python -m post_service.reconciler    one pass, then exit

post_service also runs it at start and every RECONCILE_INTERVAL_SECONDS, in
its supervising process only. Each step it repeats is idempotent, so a pass
that overlaps a live request, or another pass, does no harm.
"""

import json
import logging
import threading
from collections import Counter
from datetime import timedelta

from mesh import tracing
from mesh.auth import Caller
from mesh.db import open_database, utcnow
from mesh.errors import MeshError, Unavailable
from mesh.schedule import every
from mesh.service import configured
from post_service import metrics
from post_service.app import posts_for
from post_service.config import PostConfig
from post_service.models import Post, PostStatus, database
from post_service.posts import Posts

log = logging.getLogger(__name__)


def reconcile(posts: Posts, pending_after: timedelta) -> Counter[str]:
    """One pass; how many posts were published, undone, deleted or left for later."""
    outcomes: Counter[str] = Counter()
    stale = utcnow() - pending_after
    with database.connection_context():
        candidates = list(
            Post.select().where(
                ((Post.status == PostStatus.PENDING) & (Post.created_at < stale))
                | (Post.status == PostStatus.DELETING)
            )
        )
    for post in candidates:
        try:
            with database.connection_context():
                outcomes[_settle(posts, post)] += 1
        except Exception:  # one bad post must not stop the pass
            log.exception("could not settle post", extra={"fields": {"post_id": post.id}})
            outcomes["error"] += 1
    for outcome, count in outcomes.items():
        metrics.REPAIRS.labels(outcome).inc(count)
    if candidates:
        log.info("reconciled posts", extra={"fields": dict(outcomes)})
    return outcomes


def _settle(posts: Posts, post: Post) -> str:
    # Work done for the author: media_service takes the user from the service
    # credential's on-behalf-of, as there is no user token any more.
    author = Caller(user_id=post.author_id, token="")
    try:
        if post.status == PostStatus.DELETING:
            posts.finish_deleting(author, post)
            return "deleted"
        try:
            posts.finish(author, post)
            return "published"
        except Unavailable:
            raise
        except MeshError as refused:
            log.info(
                "undoing post", extra={"fields": {"post_id": post.id, "reason": refused.message}}
            )
            posts.finish_deleting(author, post)
            return "undone"
    except Unavailable:
        return "left"


def run_periodically(
    posts: Posts, pending_after: timedelta, interval_seconds: float, stop: threading.Event
) -> None:
    """At start, then every `interval_seconds` until `stop` is set."""
    every(interval_seconds, lambda: reconcile(posts, pending_after), stop, at_start=True)


def main() -> None:
    config = configured("post_service.reconciler", PostConfig.from_env)
    with tracing.traced_run("post_service.reconciler", "reconcile posts"):
        database.initialize(open_database(config.database_url, max_connections=2))
        outcomes = reconcile(posts_for(config), timedelta(seconds=config.reconcile_after_seconds))
    print(json.dumps(dict(outcomes)))


if __name__ == "__main__":
    main()
