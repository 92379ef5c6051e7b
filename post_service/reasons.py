"""The ErrorInfo reasons post_service gives, beside the mesh's own
(`mesh.errors.Reason`) and media_service's, which it passes on from its
calls there (`mesh.client`). The README's table of error reasons lists them all."""

from enum import StrEnum


class PostReason(StrEnum):
    EMPTY_POST = "EMPTY_POST"  # neither content nor media
    POST_NOT_FOUND = "POST_NOT_FOUND"  # {postId}
    NOT_POST_AUTHOR = "NOT_POST_AUTHOR"  # {postId}
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"  # with a different request
    POST_BEING_DELETED = "POST_BEING_DELETED"  # {postId}: the key's post is being removed
    POST_UNDONE = "POST_UNDONE"  # {postId}: undone while its media were being attached
