"""python -m media_service: migrate, then serve MediaService on every core."""

from genproto.media.v1 import media_pb2, media_pb2_grpc
from media_service.app import jobs_for, open_media_database, start_workers, watcher_for
from media_service.config import MediaConfig
from media_service.models import database
from media_service.servicer import MediaServicer
from media_service.storage import Storage
from media_service.uploads import Uploads
from mesh import health
from mesh.health import Dependency
from mesh.server import Running, Service
from mesh.service import run_service, service_server

SERVICE = media_pb2.DESCRIPTOR.services_by_name["MediaService"]
MIGRATIONS = ("media_service.migrations", "media_schema_migrations")
EMBEDDED_WORKER_THREADS = 2


def build(config: MediaConfig) -> Running:
    """Everything one serving process needs; called in each process after fork."""
    open_media_database(config, config.server.threads + 4)
    jobs = jobs_for(config)
    if config.broker_url is None:
        # Embedded mode: no broker to talk to, so this process runs the jobs
        # (and the janitor) itself.
        start_workers(config, jobs, EMBEDDED_WORKER_THREADS)
    storage = Storage(config.storage)
    uploads = Uploads(storage, jobs.enqueue_processing, config.uploads)
    watcher = watcher_for(config)
    servicer = MediaServicer(uploads, storage, watcher)
    running = service_server(
        config,
        database,
        [Service.of(SERVICE, servicer, media_pb2_grpc.add_MediaServiceServicer_to_server)],
        # A stream holds a thread for as long as it is open: room for as many
        # as a process takes, beside the threads of the unary calls.
        threads=config.server.threads + config.watch.per_process,
    )
    running.on_drain.append(watcher.drain)
    running.needs += [health.database(database), Dependency("storage", storage.check_reachable)]
    return running


if __name__ == "__main__":
    run_service("media_service", MediaConfig.from_env, database, MIGRATIONS, build)
