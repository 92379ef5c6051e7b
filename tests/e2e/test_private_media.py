"""Private media through the real mesh: stored under `private/`, read only
through presigned GETs minted for its owner and its post's readers.

The S3 server of the tests checks no signature, so what is proven here is
what the services hand out (and to whom); that storage refuses an unsigned
read of `private/` is the bucket's configuration (README, Production).
"""

import io
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2
from harness import media_files
from harness.media_files import small_jpeg
from harness.rest import Api, put, put_part
from harness.waiting import wait_for
from media_client import MediaClient
from media_client.resume import ResumeStore
from media_service.config import MediaConfig
from tests.support import Watching, storage_key

# What the mesh runs with: the tests leave PRIVATE_URL_TTL_SECONDS at its default.
TTL_SECONDS = MediaConfig.from_env({}).storage.private_url_ttl_seconds
KEY_PATTERN = r"private/post-image/{user}/\d{{13}}-{media_id}\.jpg"


class Clock:
    """The span of one call, to the second, as X-Amz-Date writes time."""

    def __enter__(self) -> "Clock":
        self.start = datetime.now(UTC).replace(microsecond=0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.end = datetime.now(UTC)


def _presigned(url: str, settings, key: str | None = None, minted: Clock | None = None) -> str:
    """Assert `url` is a presigned GET of the S3 server that expires within the
    TTL (and was signed during `minted`); the key it reads."""
    split = urlsplit(url)
    query = {name: value for name, [value] in parse_qs(split.query).items()}
    assert f"{split.scheme}://{split.netloc}" == settings.storage_url, url
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256", url
    assert re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"]), url
    assert query["X-Amz-SignedHeaders"] == "host"
    assert 0 < int(query["X-Amz-Expires"]) <= TTL_SECONDS
    if minted is not None:
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert minted.start <= signed_at <= minted.end, "minted for this very call"
    prefix = f"/{settings.s3_bucket}/"
    assert split.path.startswith(prefix), url
    read = split.path[len(prefix) :]
    assert read.startswith("private/"), url
    if key is not None:
        assert read == key
    return read


def _fetched(url: str) -> bytes:
    reply = httpx.get(url, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.content


def _image(url: str) -> Image.Image:
    image = Image.open(io.BytesIO(_fetched(url)))
    image.load()
    return image


def _upload_private(
    api: Api, data: bytes, file_type: str = "image/jpeg", **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any], Clock]:
    """Session and complete of a PRIVATE upload: the session, the complete
    reply, and when complete ran."""
    reply = api.create_session(data, file_type, visibility="PRIVATE", **overrides)
    assert reply.status_code == 200, reply.text
    session = reply.json()
    put(session, data)
    with Clock() as clock:
        completed = api.complete(session["mediaId"])
    assert completed.status_code == 200, completed.text
    return session, completed.json(), clock


def _ready(api: Api, media_id: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        record = api.media(media_id).json()
        return record if record["status"] in ("READY", "FAILED") else None

    record = wait_for(done, f"media {media_id} to be processed", timeout)
    assert record["status"] == "READY", record.get("failureReason")
    return record


def _read(api: Api, media_id: str) -> tuple[dict[str, Any], Clock]:
    with Clock() as clock:
        reply = api.media(media_id)
    assert reply.status_code == 200, reply.text
    return reply.json(), clock


def test_a_private_photo_is_stored_under_private_and_read_through_fresh_presigned_urls(
    api: Api, user: str, settings
):
    data = small_jpeg()

    # Given a PRIVATE upload
    session, completed, completing = _upload_private(api, data)
    media_id = session["mediaId"]
    key = storage_key(session, settings.s3_bucket)

    # Then its key is under private/, and complete answers with a presigned GET of it
    assert re.fullmatch(KEY_PATTERN.format(user=user, media_id=media_id), key)
    assert _presigned(completed["cdnUrl"], settings, key, completing) == key
    assert _fetched(completed["cdnUrl"]) == data

    # When it is processed and read
    _ready(api, media_id)
    record, reading = _read(api, media_id)

    # Then the record and each of its files carry a presigned GET minted for this read
    assert record["visibility"] == "PRIVATE"
    assert _presigned(record["cdnUrl"], settings, key, reading) == key
    assert _fetched(record["cdnUrl"]) == data
    stem = key.rpartition(".")[0]
    variants = {v["name"]: v for v in record["variants"]}
    assert set(variants) == {"thumb", "large"}
    for name, variant in variants.items():
        assert _presigned(variant["url"], settings, f"{stem}/{name}.webp", reading)
        image = _image(variant["url"])
        assert (image.format, image.size) == ("WEBP", (16, 16))

    # And a second read mints its URLs afresh, at that read
    again, rereading = _read(api, media_id)
    _presigned(again["cdnUrl"], settings, key, rereading)
    for variant in again["variants"]:
        _presigned(variant["url"], settings, minted=rereading)

    # And the owner's list hands out presigned URLs too
    with Clock() as listing:
        page = api.http.get("/api/v1/media", params={"pageSize": 5}).json()
    [listed] = [m for m in page["media"] if m["mediaId"] == media_id]
    _presigned(listed["cdnUrl"], settings, key, listing)


def test_a_private_multipart_upload_is_stored_under_private_too(api: Api, settings):
    data = small_jpeg(6 * 1024 * 1024)  # over the single-PUT limit: one 6 MiB part
    session = api.create_session(data, visibility="PRIVATE").json()
    [part] = session["parts"]
    key = storage_key({"uploadUrl": part["uploadUrl"]}, settings.s3_bucket)
    assert key.startswith("private/post-image/")

    etag = put_part(part["uploadUrl"], data)
    with Clock() as completing:
        completed = api.complete_multipart(session["mediaId"], session["uploadId"], [(1, etag)])

    assert completed.status_code == 200, completed.text
    assert _presigned(completed.json()["cdnUrl"], settings, key, completing) == key
    assert _fetched(completed.json()["cdnUrl"]) == data


def test_a_private_video_gets_a_presigned_poster_and_video(api: Api, settings, tmp_path):
    data = media_files.short_video(tmp_path, seconds=1)
    session, _, _ = _upload_private(
        api, data, "video/mp4", mediaType="post-video", fileName="clip.mp4"
    )
    stem = storage_key(session, settings.s3_bucket).rpartition(".")[0]

    _ready(api, session["mediaId"])
    record, reading = _read(api, session["mediaId"])

    assert _presigned(record["posterUrl"], settings, f"{stem}/poster.webp", reading)
    assert _image(record["posterUrl"]).format == "WEBP"
    variants = {v["name"]: v for v in record["variants"]}
    assert _presigned(variants["poster"]["url"], settings, f"{stem}/poster.webp", reading)
    assert _presigned(variants["video"]["url"], settings, f"{stem}/720p.mp4", reading)
    assert media_files.top_level_boxes(_fetched(variants["video"]["url"]))[0] == "ftyp"


def test_another_user_gets_not_found_and_no_url(api: Api, other_api: Api, settings):
    session, _, _ = _upload_private(api, small_jpeg())
    media_id = session["mediaId"]
    key = storage_key(session, settings.s3_bucket)

    replies = [
        other_api.media(media_id),
        other_api.complete(media_id),
        other_api.http.delete(f"/api/v1/media/{media_id}"),
    ]

    for reply in replies:
        assert reply.status_code == 404
        assert reply.json()["message"] == f"media {media_id} not found"
        assert "http" not in reply.text and "X-Amz" not in reply.text
        assert key not in reply.text
    listed = other_api.http.get("/api/v1/media").json()["media"]
    assert media_id not in [m["mediaId"] for m in listed]


def test_the_owner_watching_gets_presigned_urls(api: Api, user: str, settings):
    session, _, _ = _upload_private(api, small_jpeg())
    key = storage_key(session, settings.s3_bucket)
    address = f"127.0.0.1:{settings.gateway_port}"

    watching = Watching(address, mint_token(settings, user), [session["mediaId"]])
    try:
        watching.wait_end()
    finally:
        watching.close()

    assert watching.statuses[-1] == "READY"
    last = watching.events[-1].media
    assert _presigned(last.cdn_url, settings, key) == key
    assert {_presigned(v.url, settings) for v in last.variants} == {
        f"{key.rpartition('.')[0]}/{name}.webp" for name in ("thumb", "large")
    }


def test_readers_of_its_post_get_presigned_urls(api: Api, other_api: Api, settings):
    # Given a processed private photo, posted
    session, _, _ = _upload_private(api, small_jpeg())
    media_id = session["mediaId"]
    key = storage_key(session, settings.s3_bucket)
    _ready(api, media_id)
    created = api.create_post("only for readers", [media_id])
    assert created.status_code == 200, created.text
    _presigned(created.json()["media"][0]["cdnUrl"], settings, key)
    post_id = created.json()["postId"]

    # When another user reads the post
    with Clock() as reading:
        reply = other_api.http.get(f"/api/v1/posts/{post_id}")

    # Then it gets presigned URLs, minted for this read, that fetch the files
    assert reply.status_code == 200, reply.text
    [shown] = reply.json()["media"]
    assert _presigned(shown["cdnUrl"], settings, key, reading) == key
    assert _fetched(shown["cdnUrl"])[:2] == b"\xff\xd8"
    assert {v["name"] for v in shown["variants"]} == {"thumb", "large"}
    for variant in shown["variants"]:
        _presigned(variant["url"], settings, minted=reading)
        assert _image(variant["url"]).format == "WEBP"
    # (the feed reads a page of posts the same way)
    feed = other_api.http.get("/feed", params={"pageSize": 50}).json()
    [in_feed] = [p for p in feed["posts"] if p["postId"] == post_id]
    _presigned(in_feed["media"][0]["cdnUrl"], settings, key)


def test_the_python_client_uploads_private_media(settings, user: str, tmp_path):
    path = tmp_path / "scan.jpg"
    path.write_bytes(small_jpeg())
    token = mint_token(settings, user)

    with MediaClient(settings.gateway_url, token, resume_store=ResumeStore(tmp_path)) as client:
        media = client.upload(path, visibility="private")

    assert media.visibility == media_pb2.PRIVATE
    key = _presigned(media.cdn_url, settings)
    assert key.startswith(f"private/post-image/{user}/")
    assert _fetched(media.cdn_url) == path.read_bytes()


def test_a_public_upload_is_unchanged(api: Api, user: str, settings):
    data = small_jpeg()

    completed = api.upload(data)
    record = _ready(api, completed["mediaId"])

    key = urlsplit(completed["cdnUrl"]).path.removeprefix(f"/{settings.s3_bucket}/")
    assert key.startswith(f"post-image/{user}/")
    cdn = f"{settings.storage_url}/{settings.s3_bucket}"  # the CDN of the tests: the bucket
    assert completed["cdnUrl"] == record["cdnUrl"] == f"{cdn}/{key}"
    assert record["visibility"] == "PUBLIC"
    urls = [record["cdnUrl"], *(v["url"] for v in record["variants"])]
    assert all(url.startswith(f"{cdn}/post-image/") and "?" not in url for url in urls)
    assert _fetched(record["cdnUrl"]) == data


@pytest.mark.parametrize("visibility", [7, -1])
def test_an_unknown_visibility_is_refused_in_words(api: Api, visibility):
    reply = api.create_session(small_jpeg(), visibility=visibility)

    assert reply.status_code == 400, reply.text
    assert reply.json()["message"] == (
        f"unknown visibility '{visibility}' (known: PUBLIC, PRIVATE)"
    )


def test_a_visibility_the_contract_does_not_name_is_refused_by_the_gateway(api: Api):
    reply = api.create_session(small_jpeg(), visibility="SECRET")

    assert reply.status_code == 400
    assert reply.json()["message"] == (
        'visibility: invalid value "SECRET" for type type.googleapis.com/media.v1.Visibility'
    )


def test_deleting_a_private_media_removes_every_file_and_hands_out_no_url(api: Api, s3, settings):
    session, _, _ = _upload_private(api, small_jpeg())
    key = storage_key(session, settings.s3_bucket)
    _ready(api, session["mediaId"])
    stem = key.rpartition(".")[0]
    listed = s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=stem)
    assert listed["KeyCount"] == 3  # the original, thumb and large

    reply = api.http.delete(f"/api/v1/media/{session['mediaId']}")

    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "DELETED"
    assert "X-Amz" not in reply.text and "http" not in reply.text
    assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=stem)["KeyCount"] == 0
