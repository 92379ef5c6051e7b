"""python -m media_service.worker: run the processing actors on BROKER_URL."""

import signal
import sys
import threading

import dramatiq

from media_service.config import MediaConfig
from media_service.models import database
from media_service.processing import Jobs, make_broker
from mesh.config import ConfigError
from mesh.db import close_all, open_database
from mesh.logs import configure_logging

WORKER_THREADS = 4


def main() -> None:
    try:
        config = MediaConfig.from_env()
    except ConfigError as error:
        sys.exit(f"media_service.worker: {error}")
    if config.broker_url is None:
        sys.exit(
            "media_service.worker: BROKER_URL is not set (the embedded mode runs jobs in-process)"
        )
    configure_logging("media_service.worker", config.log_level)
    database.initialize(open_database(config.database_url, WORKER_THREADS + 1))
    jobs = Jobs(make_broker(config.broker_url), config.queue_name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = dramatiq.Worker(jobs.broker, worker_threads=WORKER_THREADS)
    worker.start()
    stop.wait()
    # Unfinished messages are not acknowledged: the broker redelivers them.
    worker.stop()
    jobs.broker.close()
    close_all(database)


if __name__ == "__main__":
    main()
