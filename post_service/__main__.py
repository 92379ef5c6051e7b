"""python -m post_service: migrate, then serve PostService on every core."""

import sys

from peewee import InterfaceError, OperationalError

from genproto.post.v1 import post_pb2, post_pb2_grpc
from mesh import middleware
from mesh.auth import TokenVerifier
from mesh.config import ConfigError
from mesh.db import close_all, open_database
from mesh.logs import configure_logging
from mesh.migrations import migrate
from mesh.server import Running, Service, create_server, serve
from post_service.config import PostConfig
from post_service.media_api import MediaApi
from post_service.migrations import __name__ as migrations_package
from post_service.models import database
from post_service.posts import Posts
from post_service.servicer import PostServicer

SERVICE_NAME = post_pb2.DESCRIPTOR.services_by_name["PostService"].full_name
MIGRATIONS_TABLE = "post_schema_migrations"


def build(config: PostConfig) -> Running:
    """Everything one serving process needs; called in each process after fork."""
    database.initialize(open_database(config.database_url, config.server.threads + 4))
    media = MediaApi(config.media_service_address, config.media_call_timeout_seconds)
    servicer = PostServicer(Posts(media))
    return create_server(
        [Service(SERVICE_NAME, servicer, post_pb2_grpc.add_PostServiceServicer_to_server)],
        [
            middleware.log_requests,
            middleware.map_errors,
            middleware.authenticate(TokenVerifier(config.auth)),
            middleware.connection_per_call(
                database, unavailable=(OperationalError, InterfaceError)
            ),
        ],
        config.server.address,
        threads=config.server.threads,
        reuse_port=config.server.processes > 1,
    )


def main() -> None:
    try:
        config = PostConfig.from_env()
    except ConfigError as error:
        sys.exit(f"post_service: {error}")
    configure_logging("post_service", config.log_level)
    database.initialize(open_database(config.database_url, max_connections=1))
    migrate(database, migrations_package, MIGRATIONS_TABLE)
    close_all(database)
    serve(lambda: build(config), config.server)


if __name__ == "__main__":
    main()
