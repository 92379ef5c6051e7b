"""Periodic work in a service's background thread (janitor, reconciler)."""

import logging
import threading
from collections.abc import Callable

from mesh.errors import Unavailable

log = logging.getLogger(__name__)


def every(
    interval_seconds: float, task: Callable[[], object], stop: threading.Event, *, at_start: bool
) -> None:
    """Run `task` every `interval_seconds` (first at once if `at_start`) until
    `stop` is set. A failed run is logged and the next one comes on time: an
    outage of a dependency only skips a run."""
    if at_start and not stop.is_set():
        _run_once(task)
    while not stop.wait(interval_seconds):
        _run_once(task)


def _run_once(task: Callable[[], object]) -> None:
    try:
        task()
    except Unavailable as error:
        log.warning("%s skipped: %s", getattr(task, "__qualname__", "task"), error)
    except Exception:
        log.exception("%s failed", getattr(task, "__qualname__", "task"))
