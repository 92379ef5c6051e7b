"""post_service's side of media_service: the gRPC calls the saga makes."""

from genproto.media.v1 import media_pb2, media_pb2_grpc
from mesh.auth import Caller, ServiceCredential
from mesh.client import call_metadata, errors_as_mesh_errors, insecure_channel
from post_service.posts import AttachedMedia, FocalPoint, Rendition

# Its health name too: post_service is ready only while media_service says SERVING.
MEDIA_SERVICE = media_pb2.DESCRIPTOR.services_by_name["MediaService"].full_name


class MediaApi:
    """AttachMedia / DetachMedia / ListPostMedia (internal methods), for a user."""

    def __init__(self, address: str, timeout_seconds: float, credential: ServiceCredential) -> None:
        self._stub = media_pb2_grpc.MediaServiceStub(insecure_channel(address, MEDIA_SERVICE))
        self._timeout = timeout_seconds
        self._credential = credential

    def attach(self, caller: Caller, post_id: str, media_ids: list[str]) -> list[AttachedMedia]:
        request = media_pb2.AttachMediaRequest(post_id=post_id, media_ids=media_ids)
        with errors_as_mesh_errors("media_service"):
            reply = self._stub.AttachMedia(
                request, metadata=self._metadata(caller), timeout=self._timeout
            )
        return [_attached(m) for m in reply.media]

    def detach(self, caller: Caller, post_id: str) -> list[str]:
        request = media_pb2.DetachMediaRequest(post_id=post_id)
        with errors_as_mesh_errors("media_service"):
            reply = self._stub.DetachMedia(
                request, metadata=self._metadata(caller), timeout=self._timeout
            )
        return list(reply.media_ids)

    def media_of_posts(self, caller: Caller, post_ids: list[str]) -> list[AttachedMedia]:
        request = media_pb2.ListPostMediaRequest(post_ids=post_ids)
        with errors_as_mesh_errors("media_service"):
            reply = self._stub.ListPostMedia(
                request, metadata=self._metadata(caller), timeout=self._timeout
            )
        return [_attached(m) for m in reply.media]

    def _metadata(self, caller: Caller) -> tuple[tuple[str, str], ...]:
        return call_metadata(caller, self._credential)


def _attached(media: media_pb2.Media) -> AttachedMedia:
    return AttachedMedia(
        media_id=media.media_id,
        post_id=media.post_id,
        media_type=media.media_type,
        status=media_pb2.MediaStatus.Name(media.status),
        cdn_url=media.cdn_url,
        width=media.width,
        height=media.height,
        poster_url=media.poster_url,
        blurhash=media.blurhash,
        duration_ms=media.duration_ms,
        variants=tuple(
            Rendition(v.name, v.width, v.height, v.content_type, v.url, v.duration_ms)
            for v in media.variants
        ),
        description=media.description,
        focus=FocalPoint(media.focus.x, media.focus.y) if media.HasField("focus") else None,
    )
