"""python -m media_service.worker: the processing actors on BROKER_URL, and the
janitor on its schedule."""

import signal
import sys
import threading

from media_service.app import jobs_for, open_media_database, start_workers
from media_service.config import MediaConfig
from media_service.models import database
from mesh.config import ConfigError
from mesh.db import close_all
from mesh.logs import configure_logging

WORKER_THREADS = 2  # ffmpeg and Pillow work on their own threads too: 2 jobs per 2 cores


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
    open_media_database(config, WORKER_THREADS + 2)
    jobs = jobs_for(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker, stop_janitor = start_workers(config, jobs, WORKER_THREADS)
    stop.wait()
    # Unfinished messages are not acknowledged: the broker redelivers them.
    stop_janitor.set()
    worker.stop()
    jobs.broker.close()
    close_all(database)


if __name__ == "__main__":
    main()
