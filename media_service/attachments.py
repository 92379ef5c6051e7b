"""Linking media to posts: all or none, one post per media, safe under races.

Called by post_service's saga (`AttachMedia`/`DetachMedia`). Every check and
the update run in one transaction holding row locks, so of two posts racing
for a media exactly one gets it.
"""

from media_service.library import not_found
from media_service.models import Media, database
from media_service.reasons import MediaReason
from media_service.status import ATTACHABLE, Status
from mesh.db import locked, utcnow, write_transaction
from mesh.errors import AlreadyExists, FailedPrecondition, invalid_field
from mesh.ids import checked_id


def attach(user_id: str, post_id: str, media_ids: list[str]) -> list[Media]:
    """Attach the caller's media to `post_id`; idempotent for the same post."""
    checked_id("postId", post_id)
    for media_id in media_ids:
        checked_id("mediaIds", media_id)
    if len(set(media_ids)) != len(media_ids):
        raise invalid_field("mediaIds", "mediaIds contains duplicates")
    if not media_ids:
        return []
    with write_transaction(database):
        query = Media.select().where(Media.id.in_(media_ids)).order_by(Media.id)
        rows = {m.id: m for m in locked(query, database)}
        for media_id in media_ids:
            _check_attachable(rows.get(media_id), media_id, user_id, post_id)
        Media.update(post_id=post_id, unattached_since=None).where(
            Media.id.in_(media_ids)
        ).execute()
    return list(Media.select().where(Media.id.in_(media_ids)))


def detach(user_id: str, post_id: str) -> list[str]:
    """Unlink every media of the caller attached to `post_id`; returns their ids."""
    checked_id("postId", post_id)
    with write_transaction(database):
        query = Media.select(Media.id).where(
            (Media.post_id == post_id) & (Media.owner_id == user_id)
        )
        ids = [m.id for m in locked(query, database)]
        Media.update(post_id=None, unattached_since=utcnow()).where(Media.id.in_(ids)).execute()
    return ids


def media_of_posts(post_ids: list[str]) -> list[Media]:
    """The media attached to these posts, whoever owns them (posts are public)."""
    if not post_ids:
        return []
    return list(Media.select().where(Media.post_id.in_(post_ids)).order_by(Media.created_at))


def _check_attachable(media: Media | None, media_id: str, user_id: str, post_id: str) -> None:
    if media is None or media.owner_id != user_id or media.status == Status.DELETED:
        raise not_found(media_id)
    if media.post_id == post_id:
        return
    if media.post_id:
        raise AlreadyExists(
            f"media {media_id} is already attached to another post",
            reason=MediaReason.MEDIA_ATTACHED,
            metadata={"mediaId": media_id, "postId": media.post_id},
        )
    if media.status not in ATTACHABLE:
        raise FailedPrecondition(
            f"media {media_id} is {media.status}; only UPLOADED, PROCESSING or READY media "
            "can be attached",
            reason=MediaReason.MEDIA_NOT_ATTACHABLE,
            metadata={"mediaId": media_id, "status": media.status},
        )
