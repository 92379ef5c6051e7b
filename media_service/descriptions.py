"""How the caller's media is shown: its alt text and its focal point.

Both are the owner's to change at any time, before or after the media is
attached to a post, until the media has ended (EXPIRED, ABORTED, REJECTED;
a DELETED one is not found). A field left out is left as it is; "" clears
the description. The change is one UPDATE guarded by owner and status, so
a refusal writes nothing and a race with the janitor or a delete cannot
bring an ended media back.
"""

import math
import struct
from dataclasses import dataclass

from media_service import library
from media_service.models import Media
from media_service.reasons import MediaReason
from media_service.status import LIVE
from mesh.db import utcnow
from mesh.errors import FailedPrecondition, InvalidArgument, invalid_field
from mesh.ids import checked_id

# Mastodon's limit for alt text, counted in Unicode code points as it does.
MAX_DESCRIPTION_CHARS = 1500
# A focal point is relative to the centre: -1 is the left (bottom) edge, 1 the right (top).
FOCUS_RANGE = (-1.0, 1.0)
FLOAT32_MAX = 3.4028234663852886e38  # the largest finite 32-bit float


@dataclass(frozen=True)
class Focus:
    x: float
    y: float


def update(
    user_id: str, media_id: str, description: str | None = None, focus: Focus | None = None
) -> Media:
    """Set the description and/or focus (None: leave it) of the caller's media."""
    checked_id("mediaId", media_id)
    if description is None and focus is None:
        raise InvalidArgument(
            "nothing to update: give description, focus or both",
            reason=MediaReason.NOTHING_TO_UPDATE,
        )
    fields: dict[str, object] = {}
    if description is not None:
        _check_description(description)
        fields["description"] = description or None
    if focus is not None:
        _check_focus("focus.x", focus.x)
        _check_focus("focus.y", focus.y)
        fields.update(focus_x=focus.x, focus_y=focus.y)
    changed = (
        Media.update(updated_at=utcnow(), **fields)
        .where((Media.id == media_id) & (Media.owner_id == user_id) & (Media.status.in_(LIVE)))
        .execute()
    )
    if not changed:
        # Another user's, missing or deleted: NOT_FOUND. Otherwise it has ended
        # (statuses it never leaves), which is why the update found nothing.
        media = library.owned(user_id, media_id)
        raise FailedPrecondition(
            f"media {media_id} is {media.status}; only {_listed(LIVE)} media can be updated",
            reason=MediaReason.MEDIA_ENDED,
            metadata={"mediaId": media_id, "status": media.status},
        )
    return Media.get_by_id(media_id)


def _check_description(description: str) -> None:
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise invalid_field(
            "description",
            f"description is {len(description)} characters; "
            f"at most {MAX_DESCRIPTION_CHARS} are allowed",
        )


def _check_focus(field: str, value: float) -> None:
    low, high = FOCUS_RANGE
    if not (math.isfinite(value) and low <= value <= high):
        raise invalid_field(
            field, f"{field} must be between {low:g} and {high:g}, got {_shown(value)}"
        )


def _shown(value: float) -> str:
    """A float as the caller wrote it: the shortest decimal that is the same
    32-bit float (what the API carries), in proto3 JSON's spelling."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if abs(value) > FLOAT32_MAX:
        return repr(value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if _float32(float(text)) == _float32(value):
            return text
    return repr(value)


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _listed(statuses: tuple[str, ...]) -> str:
    return f"{', '.join(statuses[:-1])} or {statuses[-1]}"
