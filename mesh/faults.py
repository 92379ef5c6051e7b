"""Fault injection for tests: crash a process at a named point, as a real crash
would, or stall it there, as a long job would.

A service passes `crash_at(setting)` where its code calls `checkpoint("point")`;
with the setting `crash-after-point` the process exits there, without cleanup;
with `stall-after-point` the thread waits STALL_SECONDS there, then goes on.
Unset (always, in production), checkpoints do nothing.
"""

import logging
import os
import time
from collections.abc import Callable

CRASH_EXIT_CODE = 70
STALL_SECONDS = 40.0

log = logging.getLogger(__name__)

Checkpoint = Callable[[str], None]


def crash_at(fault: str) -> Checkpoint:
    def checkpoint(point: str) -> None:
        if fault == f"crash-after-{point}":
            log.warning("fault injection: crashing after %s", point)
            os._exit(CRASH_EXIT_CODE)
        if fault == f"stall-after-{point}":
            log.warning("fault injection: stalling %g s after %s", STALL_SECONDS, point)
            time.sleep(STALL_SECONDS)

    return checkpoint
