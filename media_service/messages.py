"""Encoding media records as protobuf messages."""

import json

from genproto.media.v1 import media_pb2
from media_service.models import Media
from mesh.messages import timestamp


def status(media: Media) -> media_pb2.MediaStatus.ValueType:
    return media_pb2.MediaStatus.Value(media.status)


def media_message(media: Media) -> media_pb2.Media:
    return media_pb2.Media(
        media_id=media.id,
        owner_id=media.owner_id,
        media_type=media.media_type,
        status=status(media),
        file_name=media.file_name,
        file_type=media.file_type,
        file_size=media.file_size,
        cdn_url=media.cdn_url or "",
        post_id=media.post_id or "",
        width=media.width or 0,
        height=media.height or 0,
        duration_ms=media.duration_ms or 0,
        codec=media.codec or "",
        poster_url=media.poster_url or "",
        blurhash=media.blurhash or "",
        variants=[media_pb2.Variant(**v) for v in json.loads(media.variants or "[]")],
        failure_reason=media.failure_reason or "",
        description=media.description or "",
        focus=_focus(media),
        processing_progress=media.processing_progress or 0,
        created_at=timestamp(media.created_at),
        updated_at=timestamp(media.updated_at),
    )


def _focus(media: Media) -> media_pb2.Focus | None:
    if media.focus_x is None or media.focus_y is None:
        return None
    return media_pb2.Focus(x=media.focus_x, y=media.focus_y)
