"""Posts and the saga that attaches media to them, all or nothing.

post_service owns posts, media_service owns media. Creating a post with media
is a saga of three steps, each safe to repeat:

    1. record     the post is stored PENDING (readers never see it)
    2. attach     MediaService.AttachMedia(postId, mediaIds): one transaction
                  on the media side checks owner, status and attachment of
                  every media and links all or none; repeating it for the
                  same post changes nothing
    3. publish    the post becomes PUBLISHED

Where each failure is repaired:

- attach refused (unknown, foreign, pending or taken media): nothing was
  attached, the PENDING post is deleted, the client gets the refusal;
- media_service unreachable during attach: the outcome is unknown and the
  client is told the post failed, so it must never appear: the post is marked
  DELETING, then detached and deleted; if that fails too, the reconciler
  finishes the undoing;
- post_service dies after 1 or 2: the post stays PENDING. A retry with the
  same Idempotency-Key resumes the saga at once; otherwise the reconciler
  (`post_service.reconciler`, every 30 s and at start) takes each PENDING
  post older than a minute and repeats step 2: accepted, it publishes;
  refused, it detaches and deletes.

Deleting a post is the saga backwards: mark it DELETING (invisible), detach
its media, delete it; the reconciler finishes a DELETING post left behind.
(A PENDING post whose request failed after step 2, on a database error say,
is still finished by the reconciler; a retry with its Idempotency-Key returns
it.)
"""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import NoReturn, Protocol

from peewee import IntegrityError

from mesh import paging
from mesh.auth import Caller
from mesh.db import utcnow
from mesh.errors import (
    Conflict,
    Internal,
    InvalidArgument,
    MeshError,
    NotFound,
    PermissionDenied,
    Unavailable,
    invalid_field,
)
from mesh.faults import Checkpoint
from mesh.ids import checked_id
from post_service import metrics
from post_service.models import Post, PostStatus, database
from post_service.reasons import PostReason

log = logging.getLogger(__name__)

MAX_CONTENT_CHARS = 5000
MAX_MEDIA = 10
MAX_IDEMPOTENCY_KEY_CHARS = 255


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    content_type: str
    url: str
    duration_ms: int = 0


@dataclass(frozen=True)
class FocalPoint:
    """Where to keep in view when cropping: x and y in -1..1 from the centre."""

    x: float
    y: float


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
    duration_ms: int = 0
    variants: tuple[Rendition, ...] = ()
    description: str = ""  # alt text
    focus: FocalPoint | None = None  # None: never set (the centre)


class MediaDirectory(Protocol):
    """What the saga needs of media_service (post_service.media_api over gRPC)."""

    def attach(self, caller: Caller, post_id: str, media_ids: list[str]) -> list[AttachedMedia]: ...

    def detach(self, caller: Caller, post_id: str) -> list[str]: ...

    def media_of_posts(self, caller: Caller, post_ids: list[str]) -> list[AttachedMedia]: ...


@dataclass(frozen=True)
class NewPost:
    content: str
    media_ids: list[str]
    idempotency_key: str = ""

    def fingerprint(self) -> str:
        body = json.dumps({"content": self.content, "mediaIds": self.media_ids})
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class PostView:
    post: Post
    media: list[AttachedMedia]


@dataclass(frozen=True)
class FeedPage:
    posts: list[PostView]
    next_page_token: str


class Posts:
    def __init__(self, media: MediaDirectory, checkpoint: Checkpoint = lambda _: None) -> None:
        """`checkpoint` is called with "recorded" and "attached" as the saga
        passes them (mesh.faults: where a test makes the process die)."""
        self._media = media
        self._checkpoint = checkpoint

    def create(self, caller: Caller, new: NewPost) -> PostView:
        _validate(new)
        post = self._record(caller, new)
        if post.status == PostStatus.PUBLISHED:
            return self._with_media(caller, [post])[0]  # a retry of a finished request
        if post.status == PostStatus.DELETING:
            raise Conflict(
                f"the post made with this Idempotency-Key ({post.id}) is being removed; "
                "retry in a moment",
                reason=PostReason.POST_BEING_DELETED,
                metadata={"postId": post.id},
            )
        self._checkpoint("recorded")
        try:
            view = self.finish(caller, post)
        except (Unavailable, Internal):
            # The attach may or may not have happened: detach before deleting.
            metrics.SAGAS.labels("undone" if self._undo(caller, post) else "left").inc()
            raise
        except MeshError:
            post.delete_instance()  # media_service attached nothing
            metrics.SAGAS.labels("refused").inc()
            raise
        metrics.SAGAS.labels("published").inc()
        return view

    def finish(self, caller: Caller, post: Post) -> PostView:
        """Steps 2 and 3 for a PENDING post: attach (idempotent), then publish."""
        media_ids = json.loads(post.media_ids)
        attached = self._media.attach(caller, post.id, media_ids) if media_ids else []
        self._checkpoint("attached")
        published = (
            Post.update(status=PostStatus.PUBLISHED, published_at=utcnow())
            .where((Post.id == post.id) & (Post.status == PostStatus.PENDING))
            .execute()
        )
        if not published and not _is_published(post.id):
            self._undo_late_attach(caller, post)
        return PostView(post=Post.get_by_id(post.id), media=_in_order(attached, media_ids))

    def _undo_late_attach(self, caller: Caller, post: Post) -> NoReturn:
        """The post was undone while this attach was on its way (a retry whose
        attach met an outage told its client the post failed), so the attach may
        have landed after the undo's detach: detach again. If that fails too, a
        DELETING row is left for the reconciler, put back if the undo has
        removed it meanwhile."""
        Post.update(status=PostStatus.DELETING).where(Post.id == post.id).execute()
        try:
            self.finish_deleting(caller, post)
        except MeshError:
            if not Post.select().where(Post.id == post.id).exists():
                # Without its key: a new request with the same key may own it now.
                tombstone = {**post.__data__, "status": PostStatus.DELETING}
                Post.insert({**tombstone, "idempotency_key": None}).execute()
            raise
        raise Conflict(
            f"post {post.id} was undone while its media were being attached",
            reason=PostReason.POST_UNDONE,
            metadata={"postId": post.id},
        )

    def get(self, caller: Caller, post_id: str) -> PostView:
        return self._with_media(caller, [_published(post_id)])[0]

    def feed(self, caller: Caller, page_size: int, page_token: str) -> FeedPage:
        query = Post.select().where(Post.status == PostStatus.PUBLISHED)
        rows, next_token = paging.paginate(query, Post.published_at, Post.id, page_size, page_token)
        return FeedPage(posts=self._with_media(caller, rows), next_page_token=next_token)

    def delete(self, caller: Caller, post_id: str) -> list[str]:
        """The author deletes a post: hidden first, media detached, then gone."""
        post = _published(post_id)
        if post.author_id != caller.user_id:
            raise PermissionDenied(
                f"only the author of post {post_id} can delete it",
                reason=PostReason.NOT_POST_AUTHOR,
                metadata={"postId": post_id},
            )
        Post.update(status=PostStatus.DELETING).where(Post.id == post.id).execute()
        return self.finish_deleting(caller, post)

    def finish_deleting(self, caller: Caller, post: Post) -> list[str]:
        detached = self._media.detach(caller, post.id)
        post.delete_instance()
        return detached

    def _record(self, caller: Caller, new: NewPost) -> Post:
        """A new PENDING post, or the one an earlier request with this key made."""
        fields = {
            "author_id": caller.user_id,
            "content": new.content,
            "media_ids": json.dumps(new.media_ids),
            "status": PostStatus.PENDING,
            "created_at": utcnow(),
        }
        if not new.idempotency_key:
            return Post.create(id=str(uuid.uuid4()), **fields)
        try:
            with database.atomic():
                return Post.create(
                    id=str(uuid.uuid4()),
                    idempotency_key=new.idempotency_key,
                    request_hash=new.fingerprint(),
                    **fields,
                )
        except IntegrityError:
            earlier = Post.get(
                (Post.author_id == caller.user_id) & (Post.idempotency_key == new.idempotency_key)
            )
            if earlier.request_hash != new.fingerprint():
                raise InvalidArgument(
                    "Idempotency-Key was already used with a different request",
                    reason=PostReason.IDEMPOTENCY_KEY_REUSED,
                ) from None
            return earlier

    def _with_media(self, caller: Caller, posts: list[Post]) -> list[PostView]:
        """Each post with its media, fetched in one call for the whole page."""
        with_media = [p.id for p in posts if json.loads(p.media_ids)]
        media = self._media.media_of_posts(caller, with_media) if with_media else []
        return [
            PostView(
                post=p,
                media=_in_order([m for m in media if m.post_id == p.id], json.loads(p.media_ids)),
            )
            for p in posts
        ]

    def _undo(self, caller: Caller, post: Post) -> bool:
        """The client is told this post failed: it must never be published. If
        the media cannot be detached now, the reconciler finishes the undoing
        (and this returns False)."""
        Post.update(status=PostStatus.DELETING).where(Post.id == post.id).execute()
        try:
            self.finish_deleting(caller, post)
        except MeshError:
            log.warning(
                "post left to the reconciler to undo", extra={"fields": {"post_id": post.id}}
            )
            return False
        return True


def _is_published(post_id: str) -> bool:
    return bool(
        Post.select().where((Post.id == post_id) & (Post.status == PostStatus.PUBLISHED)).exists()
    )


def _published(post_id: str) -> Post:
    checked_id("postId", post_id)
    post = Post.get_or_none((Post.id == post_id) & (Post.status == PostStatus.PUBLISHED))
    if post is None:
        raise NotFound(
            f"post {post_id} not found",
            reason=PostReason.POST_NOT_FOUND,
            metadata={"postId": post_id},
        )
    return post


def _validate(new: NewPost) -> None:
    if len(new.content) > MAX_CONTENT_CHARS:
        raise invalid_field("content", f"content is longer than {MAX_CONTENT_CHARS} characters")
    if not new.content.strip() and not new.media_ids:
        raise InvalidArgument("a post needs content or media", reason=PostReason.EMPTY_POST)
    if len(new.media_ids) > MAX_MEDIA:
        raise invalid_field(
            "mediaIds", f"a post can have at most {MAX_MEDIA} media, got {len(new.media_ids)}"
        )
    if any(not media_id for media_id in new.media_ids):
        raise invalid_field("mediaIds", "mediaIds contains an empty id")
    for media_id in new.media_ids:
        checked_id("mediaIds", media_id)
    duplicates = sorted({i for i in new.media_ids if new.media_ids.count(i) > 1})
    if duplicates:
        raise invalid_field("mediaIds", f"mediaIds lists {', '.join(duplicates)} more than once")
    if len(new.idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise invalid_field(
            "Idempotency-Key",
            f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters",
        )


def _in_order(media: list[AttachedMedia], media_ids: list[str]) -> list[AttachedMedia]:
    by_id = {m.media_id: m for m in media}
    return [by_id[i] for i in media_ids if i in by_id]
