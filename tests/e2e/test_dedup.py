"""Content-hash dedup against the real mesh: a photo its owner already has
READY is not uploaded again, and the objects the two media share stay until
neither refers to them."""

import base64
import hashlib
from collections.abc import Iterator

import httpx
import psycopg2
import pytest

from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2
from harness.media_files import small_jpeg
from harness.rest import Api
from harness.waiting import wait_for
from media_client import MediaClient
from media_client.resume import ResumeStore
from media_service.app import janitor_for
from media_service.config import MediaConfig
from tests.own_services import tapped_media_service
from tests.storage_tap import StorageTap
from tests.support import storage_key


def _checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _ready(api: Api, data: bytes) -> dict:
    """Upload `data` declaring its SHA-256; the media once READY."""
    media_id = api.upload(data, checksumSha256=_checksum(data))["mediaId"]
    wait_for(lambda: api.media(media_id).json()["status"] == "READY", "READY")
    return api.media(media_id).json()


def _objects(s3, bucket: str, key: str) -> list[str]:
    """The original and everything processing wrote beside it."""
    prefix = key.rsplit(".", 1)[0]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_the_same_photo_again_is_ready_at_once_sharing_the_objects(api, settings, s3):
    data = small_jpeg()
    first = _ready(api, data)

    reply = api.create_session(data, checksumSha256=_checksum(data))

    assert reply.status_code == 200, reply.text
    session = reply.json()
    assert session["deduplicated"] is True
    assert session["uploadUrl"] == "" and session["uploadHeaders"] == {}
    second = api.media(session["mediaId"]).json()
    assert second["mediaId"] != first["mediaId"]
    assert second["status"] == "READY"  # no PUT, no processing
    assert second["cdnUrl"] == first["cdnUrl"]
    assert second["variants"] == first["variants"]
    # completing it, as a client that does not look at the flag would, changes nothing
    assert api.complete(session["mediaId"]).json()["status"] == "READY"


def test_another_type_size_or_visibility_is_not_a_twin(api):
    data = small_jpeg()
    _ready(api, data)

    as_png = api.create_session(data, "image/png", checksumSha256=_checksum(data))
    private = api.create_session(data, checksumSha256=_checksum(data), visibility="PRIVATE")
    no_checksum = api.create_session(data)

    for reply in (as_png, private, no_checksum):
        assert reply.status_code == 200, reply.text
        assert reply.json()["deduplicated"] is False and reply.json()["uploadUrl"]


def test_deleting_one_keeps_the_shared_objects_and_deleting_both_removes_them(api, settings, s3):
    data = small_jpeg()
    first = _ready(api, data)
    second_id = api.create_session(data, checksumSha256=_checksum(data)).json()["mediaId"]
    key = storage_key({"uploadUrl": first["cdnUrl"]}, settings.s3_bucket)
    objects = _objects(s3, settings.s3_bucket, key)
    assert len(objects) == 3  # the original, thumb and large

    assert api.http.delete(f"/api/v1/media/{first['mediaId']}").status_code == 200
    assert _objects(s3, settings.s3_bucket, key) == objects
    assert httpx.get(api.media(second_id).json()["cdnUrl"]).status_code == 200

    assert api.http.delete(f"/api/v1/media/{second_id}").status_code == 200
    assert _objects(s3, settings.s3_bucket, key) == []


def test_the_janitor_removes_shared_objects_only_when_no_media_refers_to_them(
    api, mesh, settings, s3
):
    data = small_jpeg()
    first = _ready(api, data)
    second_id = api.create_session(data, checksumSha256=_checksum(data)).json()["mediaId"]
    key = storage_key({"uploadUrl": first["cdnUrl"]}, settings.s3_bucket)

    def end(media_id: str) -> None:  # deleted long ago, its storage left to the janitor
        with psycopg2.connect(settings.database_url) as connection, connection.cursor() as cursor:
            cursor.execute(
                "UPDATE media SET status = 'DELETED', urls_expire_at = NOW() - INTERVAL '1 hour'"
                " WHERE id = %s",
                (media_id,),
            )

    janitor = janitor_for(MediaConfig.from_env(mesh.service_env()))
    end(first["mediaId"])
    janitor.run_pass()
    assert len(_objects(s3, settings.s3_bucket, key)) == 3  # the copy still uses them

    end(second_id)
    janitor.run_pass()
    assert _objects(s3, settings.s3_bucket, key) == []


@pytest.fixture
def tapped(mesh, tmp_path) -> Iterator[tuple[str, StorageTap]]:
    with tapped_media_service(mesh, tmp_path) as running:
        yield running


def test_the_python_client_makes_no_put_for_a_file_its_owner_has(tapped, settings, user, tmp_path):
    address, tap = tapped
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(small_jpeg())
    with MediaClient(
        address, mint_token(settings, user), resume_store=ResumeStore(tmp_path / "resume")
    ) as client:
        first = client.wait_ready(client.upload(photo).media_id, timeout=60)
        assert tap.puts == 1

        second = client.upload(photo)

    assert tap.puts == 1
    assert second.media_id != first.media_id
    assert second.status == first.status == media_pb2.READY
