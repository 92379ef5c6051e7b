"""python -m media_service.worker: the processing actors on BROKER_URL, and the
janitor on its schedule.

Its metrics port (WORKER_METRICS_PORT) serves `/metrics`, `/livez` (every
worker thread runs) and `/readyz` (database, broker and storage answer).
"""

import logging
import signal
import sys
import threading

import dramatiq

from media_service.app import jobs_for, open_media_database, start_workers
from media_service.config import MediaConfig
from media_service.models import database
from media_service.processing.queue_depth import QueueDepth, QueueWatch
from media_service.storage import Storage
from mesh import health, tracing
from mesh.db import close_all
from mesh.health import Dependency, HealthWatch, Verdict
from mesh.metrics import Exporter
from mesh.metrics import prepare as prepare_metrics
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
    prepare_metrics(config.worker_metrics.directory)
    tracing.start("media_service.worker")  # before the broker and the database are opened
    open_media_database(config, WORKER_THREADS + 3)  # + the health check's
    jobs = jobs_for(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    queue = QueueWatch(jobs.broker, config.queue_name)
    readiness = Verdict()
    needs = [
        health.database(database),
        Dependency("broker", queue.check),
        Dependency("storage", Storage(config.storage).check_reachable),
    ]
    exporter = Exporter(config.worker_metrics, [QueueDepth(queue)])
    worker, stop_janitor = start_workers(config, jobs, WORKER_THREADS)
    exporter.probes.update({"/livez": lambda: _alive(worker), "/readyz": lambda: readiness.serving})
    exporter.start()
    HealthWatch(needs, readiness).start(stop)
    log.info(READY_LINE, extra={"fields": {"queue": config.queue_name}})
    stop.wait()
    # Unfinished messages are not acknowledged: the broker redelivers them.
    stop_janitor.set()
    exporter.stop()
    worker.stop()
    jobs.broker.close()
    close_all(database)
    tracing.shutdown()


def _alive(worker: dramatiq.Worker) -> bool:
    """Live while every consumer and worker thread runs (a dead one is never restarted)."""
    threads = [*worker.consumers.values(), *worker.workers]
    return bool(threads) and all(thread.is_alive() for thread in threads)


if __name__ == "__main__":
    main()
