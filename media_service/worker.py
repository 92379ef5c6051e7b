"""python -m media_service.worker: the processing actors on BROKER_URL, and the
janitor on its schedule."""

import logging
import signal
import sys
import threading

from media_service.app import jobs_for, open_media_database, start_workers
from media_service.config import MediaConfig
from media_service.models import database
from mesh.db import close_all
from mesh.service import configured

READY_LINE = "worker ready"
WORKER_THREADS = 2  # ffmpeg and Pillow work on their own threads too: 2 jobs per 2 cores


log = logging.getLogger("media_service.worker")


def main() -> None:
    config = configured("media_service.worker", MediaConfig.from_env)
    if config.broker_url is None:
        sys.exit(
            "media_service.worker: BROKER_URL is not set (the embedded mode runs jobs in-process)"
        )
    open_media_database(config, WORKER_THREADS + 2)
    jobs = jobs_for(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker, stop_janitor = start_workers(config, jobs, WORKER_THREADS)
    log.info(READY_LINE, extra={"fields": {"queue": config.queue_name}})
    stop.wait()
    # Unfinished messages are not acknowledged: the broker redelivers them.
    stop_janitor.set()
    worker.stop()
    jobs.broker.close()
    close_all(database)


if __name__ == "__main__":
    main()
