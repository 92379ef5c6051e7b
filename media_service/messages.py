"""Encoding media records as protobuf messages."""

from genproto.media.v1 import media_pb2
from media_service.links import Sign, links_of
from media_service.models import Media
from mesh.messages import timestamp


def status(media: Media) -> media_pb2.MediaStatus.ValueType:
    return media_pb2.MediaStatus.Value(media.status)


def media_message(media: Media, sign: Sign) -> media_pb2.Media:
    """`sign`: how a private media's URLs are minted (media_service.links)."""
    links = links_of(media, sign)
    return media_pb2.Media(
        media_id=media.id,
        owner_id=media.owner_id,
        media_type=media.media_type,
        status=status(media),
        file_name=media.file_name,
        file_type=media.file_type,
        file_size=media.file_size,
        cdn_url=links.cdn_url,
        post_id=media.post_id or "",
        width=media.width or 0,
        height=media.height or 0,
        duration_ms=media.duration_ms or 0,
        codec=media.codec or "",
        poster_url=links.poster_url,
        blurhash=media.blurhash or "",
        variants=[media_pb2.Variant(**v) for v in links.variants],
        failure_reason=media.failure_reason or "",
        description=media.description or "",
        focus=_focus(media),
        processing_progress=media.processing_progress or 0,
        visibility=media_pb2.Visibility.Value(media.visibility),
        created_at=timestamp(media.created_at),
        updated_at=timestamp(media.updated_at),
    )


def _focus(media: Media) -> media_pb2.Focus | None:
    if media.focus_x is None or media.focus_y is None:
        return None
    return media_pb2.Focus(x=media.focus_x, y=media.focus_y)
