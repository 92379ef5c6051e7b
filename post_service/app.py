"""How post_service's parts are put together in a process (server or reconciler)."""

from mesh.auth import ServiceCredential
from mesh.faults import crash_at
from post_service.config import PostConfig
from post_service.media_api import MediaApi
from post_service.posts import Posts


def posts_for(config: PostConfig) -> Posts:
    credential = ServiceCredential(config.auth)
    media = MediaApi(config.media_service_address, config.media_call_timeout_seconds, credential)
    return Posts(media, checkpoint=crash_at(config.saga_fault))
