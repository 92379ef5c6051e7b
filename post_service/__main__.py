"""python -m post_service: migrate, then serve PostService on every core."""

from genproto.post.v1 import post_pb2, post_pb2_grpc
from mesh.auth import ServiceCredential
from mesh.db import open_database
from mesh.server import Running, Service, create_server
from mesh.service import run_service, standard_middleware
from post_service.config import PostConfig
from post_service.media_api import MediaApi
from post_service.models import database
from post_service.posts import Posts
from post_service.servicer import PostServicer

SERVICE_NAME = post_pb2.DESCRIPTOR.services_by_name["PostService"].full_name
MIGRATIONS = ("post_service.migrations", "post_schema_migrations")


def build(config: PostConfig) -> Running:
    """Everything one serving process needs; called in each process after fork."""
    database.initialize(open_database(config.database_url, config.server.threads + 4))
    media = MediaApi(
        config.media_service_address,
        config.media_call_timeout_seconds,
        ServiceCredential(config.auth),
    )
    return create_server(
        [
            Service(
                SERVICE_NAME,
                PostServicer(Posts(media)),
                post_pb2_grpc.add_PostServiceServicer_to_server,
            )
        ],
        standard_middleware(config.auth, database),
        config.server.address,
        threads=config.server.threads,
        reuse_port=config.server.processes > 1,
    )


if __name__ == "__main__":
    run_service("post_service", PostConfig.from_env, database, MIGRATIONS, build)
