"""How post_service's parts are put together in a process (server or reconciler)."""

import logging
import os

from mesh.auth import ServiceCredential
from post_service.config import PostConfig
from post_service.media_api import MediaApi
from post_service.posts import Checkpoint, Posts

CRASH_EXIT_CODE = 70

log = logging.getLogger("post_service")


def posts_for(config: PostConfig) -> Posts:
    credential = ServiceCredential(config.auth)
    media = MediaApi(config.media_service_address, config.media_call_timeout_seconds, credential)
    return Posts(media, checkpoint=_fault_injection(config.saga_fault))


def _fault_injection(fault: str) -> Checkpoint:
    """SAGA_FAULT (tests only) kills the process at a point of the saga, as a crash would."""

    def checkpoint(point: str) -> None:
        if fault == f"crash-after-{point}":
            log.warning("SAGA_FAULT: crashing after %s", point)
            os._exit(CRASH_EXIT_CODE)

    return checkpoint
