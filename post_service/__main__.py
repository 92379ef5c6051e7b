"""python -m post_service: migrate, then serve PostService on every core, with
the saga reconciler running beside it."""

from datetime import timedelta

from genproto.post.v1 import post_pb2, post_pb2_grpc
from mesh import health
from mesh.db import open_database
from mesh.server import Background, Running, Service
from mesh.service import run_service, service_server
from post_service.app import posts_for
from post_service.config import PostConfig
from post_service.media_api import MEDIA_SERVICE
from post_service.models import database
from post_service.reconciler import run_periodically
from post_service.servicer import PostServicer

SERVICE = post_pb2.DESCRIPTOR.services_by_name["PostService"]
MIGRATIONS = ("post_service.migrations", "post_schema_migrations")


def build(config: PostConfig) -> Running:
    """Everything one serving process needs; called in each process after fork."""
    database.initialize(open_database(config.database_url, config.server.threads + 4))
    servicer = PostServicer(posts_for(config))
    running = service_server(
        config,
        database,
        [Service.of(SERVICE, servicer, post_pb2_grpc.add_PostServiceServicer_to_server)],
    )
    # Posts with media need media_service (the saga's attach): without it, say so.
    media_service = health.grpc_service(
        "media_service", config.media_service_address, MEDIA_SERVICE
    )
    running.needs += [health.database(database), media_service]
    return running


def reconciler(config: PostConfig) -> Background:
    after = timedelta(seconds=config.reconcile_after_seconds)
    return lambda stop: run_periodically(
        posts_for(config), after, config.reconcile_interval_seconds, stop
    )


if __name__ == "__main__":
    run_service("post_service", PostConfig.from_env, database, MIGRATIONS, build, reconciler)
