"""The URLs a reply hands out: public media's as recorded, private media's
presigned afresh for each reply, ended media's none."""

import json
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from genproto.media.v1 import media_pb2
from media_service.links import links_of
from media_service.messages import media_message
from media_service.models import Media, Visibility
from media_service.status import ENDED, Status
from media_service.storage import Storage
from tests.support import STORAGE_CONFIG as CONFIG

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KEY = "private/post-video/user_1/1763446881194-3f2a.mp4"
BESIDE = "private/post-video/user_1/1763446881194-3f2a/"
CDN = f"{CONFIG.cdn_base_url}/"


def _video(visibility: str = Visibility.PRIVATE, status: str = Status.READY, **fields) -> Media:
    """A processed video as the worker records it (keys in the variants since 0006)."""
    row = {
        "id": "3f2a",
        "owner_id": "user_1",
        "media_type": "post-video",
        "status": status,
        "file_name": "clip.mp4",
        "file_type": "video/mp4",
        "file_size": 1000,
        "storage_key": KEY,
        "visibility": visibility,
        "cdn_url": CDN + KEY,
        "poster_url": f"{CDN}{BESIDE}poster.webp",
        "variants": json.dumps(
            [
                _variant("poster", "image/webp", BESIDE + "poster.webp"),
                _variant("video", "video/mp4", BESIDE + "720p.mp4", duration_ms=2000),
            ]
        ),
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return Media(**row)


def _variant(name: str, content_type: str, key: str, **more) -> dict:
    return {"name": name, "width": 320, "height": 240, "content_type": content_type,
            "url": CDN + key, "key": key, **more}  # fmt: skip


def _at(moment: datetime):
    return mock.patch("media_service.presign.current_time", return_value=moment)


def _signed(url: str) -> tuple[str, dict[str, str]]:
    """The key a presigned GET reads and its query; fails on an unsigned URL."""
    split = urlsplit(url)
    query = {k: v for k, [v] in parse_qs(split.query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Signature"], url
    prefix = f"/{CONFIG.bucket}/"
    assert split.path.startswith(prefix), url
    return split.path[len(prefix) :], query


def test_a_private_media_gets_a_presigned_get_of_each_file_key():
    storage = Storage(CONFIG)

    with _at(NOW):
        links = links_of(_video(), storage.presign_get)
        expected = storage.presign_get(KEY)

    assert links.cdn_url == expected
    files = [links.cdn_url, links.poster_url, *(v["url"] for v in links.variants)]
    keys = [_signed(url)[0] for url in files]
    assert keys == [KEY, BESIDE + "poster.webp", BESIDE + "poster.webp", BESIDE + "720p.mp4"]
    for url in files:
        query = _signed(url)[1]
        assert (query["X-Amz-Date"], query["X-Amz-Expires"]) == ("20260102T030405Z", "600")
        assert not url.startswith(CDN)  # from storage, signed; never the CDN
    assert all("key" not in v for v in links.variants)  # keys stay inside
    assert links.variants[1]["duration_ms"] == 2000


def test_each_read_mints_fresh_urls():
    storage = Storage(CONFIG)

    with _at(NOW):
        first = links_of(_video(), storage.presign_get)
    with _at(NOW + timedelta(seconds=1)):
        second = links_of(_video(), storage.presign_get)

    assert first.cdn_url != second.cdn_url
    assert _signed(second.cdn_url)[1]["X-Amz-Date"] == "20260102T030406Z"
    assert first.variants[1]["url"] != second.variants[1]["url"]


def test_variants_recorded_without_their_key_are_found_beside_the_original():
    earlier = [{k: v for k, v in variant.items() if k != "key"}
               for variant in json.loads(_video().variants)]  # fmt: skip
    media = _video(variants=json.dumps(earlier))

    links = links_of(media, Storage(CONFIG).presign_get)

    assert [_signed(v["url"])[0] for v in links.variants] == [
        BESIDE + "poster.webp",
        BESIDE + "720p.mp4",
    ]


def test_a_public_media_keeps_its_cdn_urls():
    key = KEY.removeprefix("private/")
    media = _video(
        Visibility.PUBLIC,
        storage_key=key,
        cdn_url=CDN + key,
        variants=json.dumps([_variant("video", "video/mp4", "post-video/u/1-x/720p.mp4")]),
    )

    links = links_of(media, Storage(CONFIG).presign_get)

    assert links.cdn_url == CDN + key
    assert links.poster_url == media.poster_url
    assert links.variants[0]["url"] == CDN + "post-video/u/1-x/720p.mp4"
    assert "key" not in links.variants[0]


def test_an_ended_or_unverified_private_media_gets_no_url():
    sign = Storage(CONFIG).presign_get

    for status in ENDED:
        links = links_of(_video(status=status), sign)
        assert (links.cdn_url, links.poster_url) == ("", "")
        assert [v["url"] for v in links.variants] == ["", ""]
    pending = links_of(_video(status=Status.PENDING, cdn_url=None, poster_url=None,
                              variants="[]"), sign)  # fmt: skip
    assert (pending.cdn_url, pending.poster_url, pending.variants) == ("", "", [])


def test_the_message_carries_the_visibility_and_the_minted_urls():
    with _at(NOW):
        message = media_message(_video(), Storage(CONFIG).presign_get)

    assert message.visibility == media_pb2.PRIVATE
    assert _signed(message.cdn_url)[0] == KEY
    assert [_signed(v.url)[0] for v in message.variants] == [
        BESIDE + "poster.webp",
        BESIDE + "720p.mp4",
    ]
    assert message.variants[1].duration_ms == 2000
