"""How media_service's parts are put together in a process: the servers, the
workers, the janitor. The entry points (`__main__`, `worker`, `janitor`) import
this module; it imports none of them."""

import threading
from datetime import timedelta

import dramatiq

from media_service.changes import feed_for
from media_service.cleanup import Janitor
from media_service.config import MediaConfig
from media_service.models import database
from media_service.processing.jobs import Jobs, make_broker
from media_service.processing.processor import Processor
from media_service.storage import Storage
from media_service.stream_slots import StreamSlots
from media_service.watching import Watcher
from mesh.db import open_database
from mesh.faults import crash_at
from mesh.schedule import every


def open_media_database(config: MediaConfig, connections: int) -> None:
    database.initialize(open_database(config.database_url, connections))


def jobs_for(config: MediaConfig) -> Jobs:
    processor = Processor(
        Storage(config.storage), config.processing, crash_at(config.processing.fault)
    )
    return Jobs(make_broker(config.broker_url), config.queue_name, processor)


def watcher_for(config: MediaConfig) -> Watcher:
    """WatchMedia's side of one serving process (the database bound first)."""
    policy = config.watch
    slots = StreamSlots(policy.per_user, policy.per_process)
    return Watcher(feed_for(config.database_url), slots, policy.keepalive_seconds)


def janitor_for(config: MediaConfig, jobs: Jobs | None = None) -> Janitor:
    """Without `jobs` (a one-off pass), forgotten jobs are queued only on a real broker."""
    if jobs is None and config.broker_url:
        jobs = jobs_for(config)
    if not database.obj:
        open_media_database(config, connections=2)
    enqueue = jobs.enqueue_processing if jobs else None
    return Janitor(
        Storage(config.storage),
        enqueue,
        timedelta(seconds=config.processing.unattached_ttl_seconds),
    )


def start_workers(
    config: MediaConfig, jobs: Jobs, threads: int
) -> tuple[dramatiq.Worker, threading.Event]:
    """The dramatiq worker and the scheduled janitor; set the event to stop the janitor."""
    worker = dramatiq.Worker(jobs.broker, worker_threads=threads)
    worker.start()
    stop = threading.Event()
    cleaner = janitor_for(config, jobs)
    threading.Thread(
        target=every,
        args=(config.processing.janitor_interval_seconds, cleaner.run_pass, stop),
        kwargs={"at_start": False},
        name="janitor",
        daemon=True,
    ).start()
    return worker, stop
