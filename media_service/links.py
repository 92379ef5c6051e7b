"""The URLs a reply hands out for a media's files.

    PUBLIC   the CDN URLs recorded at complete (`cdnUrl`) and by processing
             (`posterUrl`, each variant's `url`), as they are
    PRIVATE  a presigned GET of each file's object key, minted for this reply
             and lasting PRIVATE_URL_TTL_SECONDS; the recorded URLs (of keys
             under `private/`, which the CDN does not serve) never leave

Every reply that carries a media is encoded through here
(media_service.messages), so a private media's files reach whoever may read
such a reply and no one else: its owner (every call on a media answers
NOT_FOUND to anyone else) and the readers of the post it is attached to
(post_service asks ListPostMedia on each read). A URL once handed out works
until it expires: taking a media out of its post stops new URLs, not those
already given. An ended media (deleted, aborted, ...) has no files left and
gets no URL.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from media_service.models import Media, Visibility
from media_service.status import ENDED
from media_service.storage import derived_prefix

Sign = Callable[[str], str]  # an object key -> a presigned GET of it


@dataclass(frozen=True)
class Links:
    cdn_url: str
    poster_url: str
    variants: list[dict[str, Any]]  # as recorded, with the URL to hand out and no key


def links_of(media: Media, sign: Sign) -> Links:
    """The URLs of `media`'s original, poster and variants for one reply."""
    variants = json.loads(media.variants or "[]")
    if media.visibility != Visibility.PRIVATE:
        return Links(
            cdn_url=media.cdn_url or "",
            poster_url=media.poster_url or "",
            variants=[_shown(v, v.get("url", "")) for v in variants],
        )
    if media.status in ENDED:
        sign = _no_url
    beside = derived_prefix(media.storage_key)
    return Links(
        cdn_url=original_url(media, sign),
        poster_url=sign(beside + _file_name(media.poster_url)) if media.poster_url else "",
        # Variants recorded before their key was (0006) are found by file name.
        variants=[_shown(v, sign(v.get("key") or beside + _file_name(v["url"]))) for v in variants],
    )


def original_url(media: Media, sign: Sign) -> str:
    """The original's URL: none before the upload is verified (complete)."""
    if not media.cdn_url:
        return ""
    if media.visibility != Visibility.PRIVATE:
        return str(media.cdn_url)
    return "" if media.status in ENDED else sign(media.storage_key)


def _shown(variant: dict[str, Any], url: str) -> dict[str, Any]:
    return {**{k: v for k, v in variant.items() if k != "key"}, "url": url}


def _file_name(url: str) -> str:
    return url.rpartition("/")[2]


def _no_url(key: str) -> str:
    return ""
