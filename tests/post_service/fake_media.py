"""An in-memory media_service for unit tests of post_service's saga.

`FakeMediaDirectory` is a `MediaDirectory`, what `Posts` asks of media_service
over gRPC. It keeps its media in a dict and answers as media_service's
AttachMedia / DetachMedia / ListPostMedia do: an attach checks every media
(the caller's, attachable, free or already on this post) and links all or
none; a detach unlinks the caller's media of a post.

Any call can be made to fail, once per `fail_next`, in the two ways a remote
call fails:

    media.fail_next("attach", Unavailable("..."))       nothing done, error raised
    media.fail_next("attach", Unavailable("..."), after_applying=True)
                                                        done, then the reply lost
"""

from dataclasses import dataclass, field

from mesh.auth import Caller
from mesh.errors import AlreadyExists, FailedPrecondition, MeshError, NotFound
from post_service.posts import AttachedMedia

ATTACHABLE = ("UPLOADED", "PROCESSING", "READY")


@dataclass
class FakeMedia:
    media_id: str
    owner_id: str
    status: str = "READY"
    post_id: str = ""


@dataclass
class _Failure:
    method: str
    error: MeshError
    after_applying: bool
    post_id: str | None


@dataclass
class FakeMediaDirectory:
    media: dict[str, FakeMedia] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, post id), in order
    _failures: list[_Failure] = field(default_factory=list)

    # Setting the scene

    def add(self, owner_id: str, media_id: str, status: str = "READY", post_id: str = "") -> str:
        self.media[media_id] = FakeMedia(media_id, owner_id, status, post_id)
        return media_id

    def fail_next(
        self,
        method: str,
        error: MeshError,
        *,
        after_applying: bool = False,
        post_id: str | None = None,
    ) -> None:
        """The next call of `method` (for `post_id`, if given) raises `error`:
        before doing anything, or `after_applying` it (the reply was lost)."""
        self._failures.append(_Failure(method, error, after_applying, post_id))

    # What the tests look at

    def attached_to(self, post_id: str) -> list[str]:
        return sorted(m.media_id for m in self.media.values() if m.post_id == post_id)

    def unattached(self) -> list[str]:
        return self.attached_to("")

    def post_of(self, media_id: str) -> str:
        return self.media[media_id].post_id

    def methods_called(self) -> list[str]:
        return [method for method, _ in self.calls]

    # MediaDirectory

    def attach(self, caller: Caller, post_id: str, media_ids: list[str]) -> list[AttachedMedia]:
        failure = self._failure("attach", post_id)
        if failure is None or failure.after_applying:
            for media_id in media_ids:
                self._check_attachable(media_id, caller.user_id, post_id)
            for media_id in media_ids:
                self.media[media_id].post_id = post_id
        if failure is not None:
            raise failure.error
        return [_attached(self.media[i]) for i in media_ids]

    def detach(self, caller: Caller, post_id: str) -> list[str]:
        failure = self._failure("detach", post_id)
        detached: list[str] = []
        if failure is None or failure.after_applying:
            for media in self.media.values():
                if media.post_id == post_id and media.owner_id == caller.user_id:
                    media.post_id = ""
                    detached.append(media.media_id)
        if failure is not None:
            raise failure.error
        return detached

    def media_of_posts(self, caller: Caller, post_ids: list[str]) -> list[AttachedMedia]:
        failure = self._failure("media_of_posts", "")
        if failure is not None:
            raise failure.error
        return [_attached(m) for m in self.media.values() if m.post_id and m.post_id in post_ids]

    def _failure(self, method: str, post_id: str) -> _Failure | None:
        self.calls.append((method, post_id))
        for failure in self._failures:
            if failure.method == method and failure.post_id in (None, post_id):
                self._failures.remove(failure)
                return failure
        return None

    def _check_attachable(self, media_id: str, user_id: str, post_id: str) -> None:
        # As media_service's attachments._check_attachable: another user's
        # media is NOT_FOUND, never revealing that it exists.
        media = self.media.get(media_id)
        if media is None or media.owner_id != user_id or media.status == "DELETED":
            raise NotFound(
                f"media {media_id} not found",
                reason="MEDIA_NOT_FOUND",
                metadata={"mediaId": media_id},
            )
        if media.post_id == post_id:
            return
        if media.post_id:
            raise AlreadyExists(
                f"media {media_id} is already attached to another post",
                reason="MEDIA_ATTACHED",
                metadata={"mediaId": media_id, "postId": media.post_id},
            )
        if media.status not in ATTACHABLE:
            raise FailedPrecondition(
                f"media {media_id} is {media.status}",
                reason="MEDIA_NOT_ATTACHABLE",
                metadata={"mediaId": media_id, "status": media.status},
            )


def _attached(media: FakeMedia) -> AttachedMedia:
    return AttachedMedia(
        media_id=media.media_id,
        post_id=media.post_id,
        media_type="post-image",
        status=media.status,
        cdn_url=f"https://cdn.example/{media.media_id}.jpg",
        width=640,
        height=480,
        poster_url="",
        blurhash="",
    )
