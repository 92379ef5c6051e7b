"""python -m media_service: migrate, then serve MediaService on every core."""

import logging
import sys

import dramatiq
from peewee import InterfaceError, OperationalError

from genproto.media.v1 import media_pb2, media_pb2_grpc
from media_service.config import MediaConfig
from media_service.migrations import __name__ as migrations_package
from media_service.models import database
from media_service.processing import Jobs, make_broker
from media_service.servicer import MediaServicer
from media_service.storage import Storage
from media_service.uploads import Uploads
from mesh import middleware
from mesh.auth import TokenVerifier
from mesh.config import ConfigError
from mesh.db import close_all, open_database
from mesh.logs import configure_logging
from mesh.migrations import migrate
from mesh.server import Running, Service, create_server, serve

SERVICE_NAME = media_pb2.DESCRIPTOR.services_by_name["MediaService"].full_name
MIGRATIONS_TABLE = "media_schema_migrations"
EMBEDDED_WORKER_THREADS = 2

log = logging.getLogger("media_service")


def build(config: MediaConfig) -> Running:
    """Everything one serving process needs; called in each process after fork."""
    database.initialize(open_database(config.database_url, config.server.threads + 4))
    jobs = Jobs(make_broker(config.broker_url), config.queue_name)
    if config.broker_url is None:
        # Embedded mode: no broker to talk to, so this process runs the jobs itself.
        dramatiq.Worker(jobs.broker, worker_threads=EMBEDDED_WORKER_THREADS).start()
    storage = Storage(config.storage)
    servicer = MediaServicer(Uploads(storage, jobs.enqueue_processing, config.uploads), storage)
    return create_server(
        [Service(SERVICE_NAME, servicer, media_pb2_grpc.add_MediaServiceServicer_to_server)],
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
        config = MediaConfig.from_env()
    except ConfigError as error:
        sys.exit(f"media_service: {error}")
    configure_logging("media_service", config.log_level)
    database.initialize(open_database(config.database_url, max_connections=1))
    migrate(database, migrations_package, MIGRATIONS_TABLE)
    close_all(database)
    serve(lambda: build(config), config.server)


if __name__ == "__main__":
    main()
