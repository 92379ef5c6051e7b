"""MediaService over gRPC: decode the request, call the domain, encode the reply."""

from typing import Any

from genproto.media.v1 import media_pb2, media_pb2_grpc
from media_service import attachments
from media_service.messages import media_message, status
from media_service.uploads import Uploads
from media_service.validation import Declaration
from mesh.auth import current_caller
from mesh.errors import FailedPrecondition
from mesh.messages import timestamp

NO_MULTIPART = "multipart uploads are not offered yet"


class MediaServicer(media_pb2_grpc.MediaServiceServicer):
    def __init__(self, uploads: Uploads) -> None:
        self._uploads = uploads

    def CreateUploadSession(
        self, request: Any, context: Any
    ) -> media_pb2.CreateUploadSessionResponse:
        declaration = Declaration(
            file_name=request.file_name,
            file_type=request.file_type,
            file_size=request.file_size,
            media_type=request.media_type,
            checksum_sha256=request.checksum_sha256,
        )
        session = self._uploads.create_session(current_caller().user_id, declaration)
        return media_pb2.CreateUploadSessionResponse(
            media_id=session.media.id,
            expires_at=timestamp(session.media.expires_at),
            upload_url=session.upload_url,
            upload_headers=session.upload_headers,
        )

    def CompleteUpload(self, request: Any, context: Any) -> media_pb2.CompleteUploadResponse:
        media = self._uploads.complete(current_caller().user_id, request.media_id)
        return media_pb2.CompleteUploadResponse(
            media_id=media.id, cdn_url=media.cdn_url or "", status=status(media)
        )

    def CompleteMultipartUpload(
        self, request: Any, context: Any
    ) -> media_pb2.CompleteUploadResponse:
        raise FailedPrecondition(NO_MULTIPART)

    def ListUploadParts(self, request: Any, context: Any) -> media_pb2.ListUploadPartsResponse:
        raise FailedPrecondition(NO_MULTIPART)

    def AbortUpload(self, request: Any, context: Any) -> media_pb2.Media:
        return media_message(self._uploads.abort(current_caller().user_id, request.media_id))

    def DeleteMedia(self, request: Any, context: Any) -> media_pb2.Media:
        return media_message(self._uploads.delete(current_caller().user_id, request.media_id))

    def GetMedia(self, request: Any, context: Any) -> media_pb2.Media:
        return media_message(self._uploads.get(current_caller().user_id, request.media_id))

    def ListMedia(self, request: Any, context: Any) -> media_pb2.ListMediaResponse:
        page = self._uploads.list(current_caller().user_id, request.page_size, request.page_token)
        return media_pb2.ListMediaResponse(
            media=[media_message(m) for m in page.media], next_page_token=page.next_page_token
        )

    def AttachMedia(self, request: Any, context: Any) -> media_pb2.AttachMediaResponse:
        attached = attachments.attach(
            current_caller().user_id, request.post_id, list(request.media_ids)
        )
        return media_pb2.AttachMediaResponse(media=[media_message(m) for m in attached])

    def DetachMedia(self, request: Any, context: Any) -> media_pb2.DetachMediaResponse:
        detached = attachments.detach(current_caller().user_id, request.post_id)
        return media_pb2.DetachMediaResponse(media_ids=detached)

    def ListPostMedia(self, request: Any, context: Any) -> media_pb2.ListPostMediaResponse:
        media = attachments.media_of_posts(list(request.post_ids))
        return media_pb2.ListPostMediaResponse(media=[media_message(m) for m in media])
