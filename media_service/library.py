"""The caller's media: read one, list them, delete one."""

from media_service.dedup import shared_elsewhere
from media_service.models import Media, database
from media_service.reasons import MediaReason
from media_service.status import Status, move
from media_service.storage import Storage
from mesh import paging
from mesh.db import locked, write_transaction
from mesh.errors import Conflict, NotFound
from mesh.ids import checked_id


def owned(user_id: str, media_id: str) -> Media:
    """The caller's media; another user's answers NOT_FOUND like a missing one."""
    checked_id("mediaId", media_id)
    media = Media.get_or_none((Media.id == media_id) & (Media.owner_id == user_id))
    if media is None or media.status == Status.DELETED:
        raise not_found(media_id)
    return media


def not_found(media_id: str) -> NotFound:
    """The answer for a media that is missing, deleted or another user's."""
    return NotFound(
        f"media {media_id} not found",
        reason=MediaReason.MEDIA_NOT_FOUND,
        metadata={"mediaId": media_id},
    )


def list_media(user_id: str, page_size: int, page_token: str) -> tuple[list[Media], str]:
    """One page of the caller's media, newest first, and the next page's token."""
    query = Media.select().where((Media.owner_id == user_id) & (Media.status != Status.DELETED))
    return paging.paginate(query, Media.created_at, Media.id, page_size, page_token)


def delete(storage: Storage, user_id: str, media_id: str) -> Media:
    """Delete an unattached media and everything of it in storage; attached media
    refuse (409). Recorded first, so a storage outage (503) loses nothing: a
    retry finds it DELETED, removes what is left and answers the same."""
    checked_id("mediaId", media_id)
    with write_transaction(database):
        query = Media.select().where((Media.id == media_id) & (Media.owner_id == user_id))
        media = locked(query, database).first()
        if media is None:
            raise not_found(media_id)
        if media.status != Status.DELETED:
            if media.post_id:
                raise Conflict(
                    f"media {media_id} is attached to post {media.post_id}; delete the post first",
                    reason=MediaReason.MEDIA_ATTACHED,
                    metadata={"mediaId": media_id, "postId": media.post_id},
                )
            move(Media.id == media.id, Status(media.status), Status.DELETED)
    # The janitor removes it all again once no presigned URL of it can be used.
    # Objects another media shares (a deduplicated copy) stay for it.
    if not shared_elsewhere(media.storage_key, media.id):
        storage.remove(media.storage_key, media.upload_id)
    return Media.get_by_id(media.id)
