"""Posts and the saga that attaches media to them, all or nothing.

post_service owns posts, media_service owns media. Creating a post with media:

1. record the post PENDING (readers never see a PENDING post);
2. AttachMedia(postId, mediaIds) on media_service: one transaction there that
   checks owner, status and attachment of every media and links all or none;
3. publish the post.

A refusal at step 2 (unknown, foreign, pending or taken media) attached
nothing, so the PENDING post is simply deleted. If media_service cannot be
reached, the outcome of step 2 is unknown: the post is detached and deleted
when that works, and otherwise left PENDING for the reconciler to settle.
"""

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from mesh import paging
from mesh.auth import Caller
from mesh.errors import InvalidArgument, MeshError, NotFound, Unavailable
from post_service.models import Post, PostStatus, utcnow

log = logging.getLogger(__name__)

MAX_CONTENT_CHARS = 5000
MAX_MEDIA = 10


@dataclass(frozen=True)
class AttachedMedia:
    media_id: str
    post_id: str
    media_type: str
    status: str
    cdn_url: str
    width: int
    height: int
    poster_url: str
    blurhash: str


class MediaDirectory(Protocol):
    """What the saga needs of media_service (post_service.media_api over gRPC)."""

    def attach(self, token: str, post_id: str, media_ids: list[str]) -> list[AttachedMedia]: ...

    def detach(self, token: str, post_id: str) -> None: ...

    def media_of_posts(self, token: str, post_ids: list[str]) -> list[AttachedMedia]: ...


@dataclass(frozen=True)
class PostView:
    post: Post
    media: list[AttachedMedia]


@dataclass(frozen=True)
class FeedPage:
    posts: list[PostView]
    next_page_token: str


class Posts:
    def __init__(self, media: MediaDirectory) -> None:
        self._media = media

    def create(self, caller: Caller, content: str, media_ids: list[str]) -> PostView:
        _validate_post(content, media_ids)
        post = Post.create(
            id=str(uuid.uuid4()),
            author_id=caller.user_id,
            content=content,
            media_ids=json.dumps(media_ids),
            status=PostStatus.PENDING,
            created_at=utcnow(),
        )
        try:
            attached = self._media.attach(caller.token, post.id, media_ids) if media_ids else []
        except Unavailable:
            self._undo(caller, post)
            raise
        except MeshError:
            post.delete_instance()  # media_service attached nothing
            raise
        Post.update(status=PostStatus.PUBLISHED, published_at=utcnow()).where(
            Post.id == post.id
        ).execute()
        return PostView(post=Post.get_by_id(post.id), media=_in_order(attached, media_ids))

    def get(self, caller: Caller, post_id: str) -> PostView:
        post = Post.get_or_none((Post.id == post_id) & (Post.status == PostStatus.PUBLISHED))
        if post is None:
            raise NotFound(f"post {post_id} not found")
        return self._with_media(caller, [post])[0]

    def feed(self, caller: Caller, page_size: int, page_token: str) -> FeedPage:
        query = Post.select().where(Post.status == PostStatus.PUBLISHED)
        rows, next_token = paging.paginate(query, Post.published_at, Post.id, page_size, page_token)
        return FeedPage(posts=self._with_media(caller, rows), next_page_token=next_token)

    def _with_media(self, caller: Caller, posts: list[Post]) -> list[PostView]:
        """Each post with its media, fetched in one call for the whole page."""
        with_media = [p.id for p in posts if json.loads(p.media_ids)]
        media = self._media.media_of_posts(caller.token, with_media) if with_media else []
        views = []
        for post in posts:
            own = [m for m in media if m.post_id == post.id]
            views.append(PostView(post=post, media=_in_order(own, json.loads(post.media_ids))))
        return views

    def _undo(self, caller: Caller, post: Post) -> None:
        try:
            self._media.detach(caller.token, post.id)
        except MeshError:
            log.warning(
                "left post PENDING for the reconciler", extra={"fields": {"post_id": post.id}}
            )
            return
        post.delete_instance()


def _validate_post(content: str, media_ids: list[str]) -> None:
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidArgument(f"content is longer than {MAX_CONTENT_CHARS} characters")
    if not content.strip() and not media_ids:
        raise InvalidArgument("a post needs content or media")
    if len(media_ids) > MAX_MEDIA:
        raise InvalidArgument(f"a post can have at most {MAX_MEDIA} media, got {len(media_ids)}")
    if len(set(media_ids)) != len(media_ids):
        raise InvalidArgument("mediaIds contains duplicates")
    if any(not media_id for media_id in media_ids):
        raise InvalidArgument("mediaIds contains an empty id")


def _in_order(media: list[AttachedMedia], media_ids: list[str]) -> list[AttachedMedia]:
    by_id = {m.media_id: m for m in media}
    return [by_id[i] for i in media_ids if i in by_id]
