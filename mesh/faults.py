"""Fault injection for tests: crash a process at a named point, as a real crash would.

A service passes `crash_at(setting)` where its code calls `checkpoint("point")`;
with the setting `crash-after-point` the process exits there, without cleanup.
Unset (always, in production), checkpoints do nothing.
"""

import logging
import os
from collections.abc import Callable

CRASH_EXIT_CODE = 70

log = logging.getLogger(__name__)

Checkpoint = Callable[[str], None]


def crash_at(fault: str) -> Checkpoint:
    def checkpoint(point: str) -> None:
        if fault == f"crash-after-{point}":
            log.warning("fault injection: crashing after %s", point)
            os._exit(CRASH_EXIT_CODE)

    return checkpoint
