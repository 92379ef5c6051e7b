"""MediaService over gRPC: decode the request, call the domain, encode the reply."""

from collections.abc import Iterator

import grpc

from genproto.media.v1 import media_pb2, media_pb2_grpc
from media_service import attachments, descriptions, library
from media_service.links import Sign, original_url
from media_service.messages import media_message, status
from media_service.models import Media
from media_service.storage import Storage
from media_service.uploads import PartUrl, Uploads
from media_service.usage import Quota
from media_service.validation import Declaration
from media_service.watching import Watcher
from mesh.auth import current_caller
from mesh.messages import timestamp


class MediaServicer(media_pb2_grpc.MediaServiceServicer):
    def __init__(self, uploads: Uploads, storage: Storage, watcher: Watcher) -> None:
        self._uploads = uploads
        self._storage = storage
        self._watcher = watcher
        self._sign = storage.presign_get  # a private media's URLs, minted on every reply

    def CreateUploadSession(
        self, request: media_pb2.CreateUploadSessionRequest, context: grpc.ServicerContext
    ) -> media_pb2.CreateUploadSessionResponse:
        declaration = Declaration(
            file_name=request.file_name,
            file_type=request.file_type,
            file_size=request.file_size,
            media_type=request.media_type,
            checksum_sha256=request.checksum_sha256,
            visibility=_visibility(request.visibility),
            part_checksums_sha256=tuple(request.part_checksums_sha256),
        )
        session = self._uploads.create_session(current_caller().user_id, declaration)
        media = session.media
        return media_pb2.CreateUploadSessionResponse(
            media_id=media.id,
            expires_at=timestamp(media.expires_at),
            upload_url=session.upload_url,
            upload_headers=session.upload_headers,
            upload_id=media.upload_id or "",
            part_size=media.part_size or 0,
            total_parts=media.total_parts or 0,
            parts=[_part(p) for p in session.parts],
            deduplicated=session.deduplicated,
        )

    def CompleteUpload(
        self, request: media_pb2.CompleteUploadRequest, context: grpc.ServicerContext
    ) -> media_pb2.CompleteUploadResponse:
        media = self._uploads.complete(current_caller().user_id, request.media_id)
        return _completed(media, self._sign)

    def CompleteMultipartUpload(
        self, request: media_pb2.CompleteMultipartUploadRequest, context: grpc.ServicerContext
    ) -> media_pb2.CompleteUploadResponse:
        parts = [(p.part_number, p.etag) for p in request.parts]
        media = self._uploads.complete_multipart(
            current_caller().user_id, request.media_id, request.upload_id, parts
        )
        return _completed(media, self._sign)

    def ListUploadParts(
        self, request: media_pb2.ListUploadPartsRequest, context: grpc.ServicerContext
    ) -> media_pb2.ListUploadPartsResponse:
        listing = self._uploads.list_parts(
            current_caller().user_id, request.media_id, request.part_number_marker
        )
        media = listing.media
        return media_pb2.ListUploadPartsResponse(
            media_id=media.id,
            upload_id=media.upload_id or "",
            part_size=media.part_size or 0,
            total_parts=media.total_parts or 0,
            stored_parts=[
                media_pb2.StoredPart(part_number=p.number, size=p.size, etag=p.etag)
                for p in listing.stored
            ],
            missing_parts=[_part(p) for p in listing.missing],
            expires_at=timestamp(media.expires_at),
            next_part_number_marker=listing.next_part_number_marker,
        )

    def AbortUpload(
        self, request: media_pb2.AbortUploadRequest, context: grpc.ServicerContext
    ) -> media_pb2.Media:
        aborted = self._uploads.abort(current_caller().user_id, request.media_id)
        return media_message(aborted, self._sign)

    def GetMedia(
        self, request: media_pb2.GetMediaRequest, context: grpc.ServicerContext
    ) -> media_pb2.Media:
        media = library.owned(current_caller().user_id, request.media_id)
        return media_message(media, self._sign)

    def ListMedia(
        self, request: media_pb2.ListMediaRequest, context: grpc.ServicerContext
    ) -> media_pb2.ListMediaResponse:
        media, next_token = library.list_media(
            current_caller().user_id, request.page_size, request.page_token
        )
        return media_pb2.ListMediaResponse(
            media=[media_message(m, self._sign) for m in media], next_page_token=next_token
        )

    def UpdateMedia(
        self, request: media_pb2.UpdateMediaRequest, context: grpc.ServicerContext
    ) -> media_pb2.Media:
        focus = request.focus if request.HasField("focus") else None
        updated = descriptions.update(
            current_caller().user_id,
            request.media_id,
            description=request.description if request.HasField("description") else None,
            focus=descriptions.Focus(focus.x, focus.y) if focus is not None else None,
        )
        return media_message(updated, self._sign)

    def GetUsage(
        self, request: media_pb2.GetUsageRequest, context: grpc.ServicerContext
    ) -> media_pb2.Usage:
        usage = self._uploads.usage(current_caller().user_id)
        return media_pb2.Usage(daily_upload=_quota(usage.daily), stored=_quota(usage.stored))

    def DeleteMedia(
        self, request: media_pb2.DeleteMediaRequest, context: grpc.ServicerContext
    ) -> media_pb2.Media:
        deleted = library.delete(self._storage, current_caller().user_id, request.media_id)
        return media_message(deleted, self._sign)

    def WatchMedia(
        self, request: media_pb2.WatchMediaRequest, context: grpc.ServicerContext
    ) -> Iterator[media_pb2.MediaEvent]:
        watch = self._watcher.open(current_caller().user_id, list(request.media_ids))
        # A cancelled stream may never be resumed: its end frees what it holds.
        if not context.add_callback(watch.close):
            watch.close()
        for media in watch.events():
            if media is None:
                yield media_pb2.MediaEvent(keep_alive=True)
            else:
                yield media_pb2.MediaEvent(media=media_message(media, self._sign))

    def AttachMedia(
        self, request: media_pb2.AttachMediaRequest, context: grpc.ServicerContext
    ) -> media_pb2.AttachMediaResponse:
        attached = attachments.attach(
            current_caller().user_id, request.post_id, list(request.media_ids)
        )
        return media_pb2.AttachMediaResponse(media=[media_message(m, self._sign) for m in attached])

    def DetachMedia(
        self, request: media_pb2.DetachMediaRequest, context: grpc.ServicerContext
    ) -> media_pb2.DetachMediaResponse:
        detached = attachments.detach(current_caller().user_id, request.post_id)
        return media_pb2.DetachMediaResponse(media_ids=detached)

    def ListPostMedia(
        self, request: media_pb2.ListPostMediaRequest, context: grpc.ServicerContext
    ) -> media_pb2.ListPostMediaResponse:
        media = attachments.media_of_posts(list(request.post_ids))
        return media_pb2.ListPostMediaResponse(media=[media_message(m, self._sign) for m in media])


def _completed(media: Media, sign: Sign) -> media_pb2.CompleteUploadResponse:
    return media_pb2.CompleteUploadResponse(
        media_id=media.id, cdn_url=original_url(media, sign), status=status(media)
    )


def _visibility(value: media_pb2.Visibility.ValueType) -> str:
    """The value's name, or the number of one the contract does not have
    (which validation refuses in words)."""
    try:
        return media_pb2.Visibility.Name(value)
    except ValueError:
        return str(value)


def _part(part: PartUrl) -> media_pb2.UploadPart:
    return media_pb2.UploadPart(part_number=part.number, upload_url=part.url)


def _quota(quota: Quota) -> media_pb2.Quota:
    return media_pb2.Quota(
        name=quota.name,
        limit_bytes=quota.limit,
        used_bytes=quota.used,
        reserved_bytes=quota.reserved,
        remaining_bytes=quota.remaining,
        resets_at=timestamp(quota.resets_at) if quota.resets_at else None,
    )
