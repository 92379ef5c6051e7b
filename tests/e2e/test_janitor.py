"""The janitor's duties, one pass at a time (`python -m media_service.janitor`).

Time passing is simulated by moving a record's timestamps back in
media_service's table; everything else is the real mesh and storage.
"""

import json
import subprocess
import sys

import httpx
import psycopg2

from gateway.settings import ROOT
from harness import media_files
from harness.media_files import small_jpeg
from harness.rest import Api, put, put_part
from harness.waiting import wait_for
from tests.support import storage_key

MIB = 1024 * 1024


def _run_janitor(mesh) -> None:
    """One pass. Its counts include other tests' rows: tests look at their own."""
    result = subprocess.run(
        [sys.executable, "-m", "media_service.janitor"],
        env=mesh.service_env(), cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout.strip().splitlines()[-1])) >= {"expired", "cleaned"}


def _age(settings, media_id: str, column: str, interval: str) -> None:
    with psycopg2.connect(settings.database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE media SET {column} = {column} - interval %s WHERE id = %s",
            (interval, media_id),
        )


def _objects(s3, settings, prefix: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_a_stale_multipart_session_expires_and_its_upload_is_aborted(api: Api, mesh, settings, s3):
    session = api.create_session(
        b"", file_type="video/mp4", fileSize=17 * MIB, mediaType="post-video"
    ).json()
    put_part(session["parts"][2]["uploadUrl"], b"\x00" * MIB)
    _age(settings, session["mediaId"], "expires_at", "25 hours")
    _age(settings, session["mediaId"], "urls_expire_at", "25 hours")

    _run_janitor(mesh)

    assert api.media(session["mediaId"]).json()["status"] == "EXPIRED"
    uploads = s3.list_multipart_uploads(Bucket=settings.s3_bucket).get("Uploads", [])
    assert session["uploadId"] not in [u["UploadId"] for u in uploads]


def test_an_object_that_arrives_after_abort_is_removed(api: Api, mesh, settings, s3):
    data = small_jpeg()
    session = api.create_session(data).json()
    assert api.http.post(f"/api/v1/media/{session['mediaId']}/abort").status_code == 200
    # the presigned URL is still valid for a while: a late PUT lands after the abort
    put(session, data)
    key = storage_key(session, settings.s3_bucket)
    assert _objects(s3, settings, key) == [key]
    _run_janitor(mesh)
    assert _objects(s3, settings, key) == [key], "cleaned only once no URL of it can be used"
    _age(settings, session["mediaId"], "urls_expire_at", "16 minutes")

    _run_janitor(mesh)

    assert _objects(s3, settings, key) == []


def test_media_never_posted_are_deleted_after_the_ttl_with_their_outputs(
    api: Api, mesh, settings, s3
):
    media = api.upload(media_files.phone_photo(640, 480), fileName="old.jpg")
    wait_for(lambda: api.media(media["mediaId"]).json()["status"] == "READY", "READY")
    posted = api.upload(small_jpeg())
    assert api.create_post("kept", [posted["mediaId"]]).status_code == 200
    for media_id in (media["mediaId"], posted["mediaId"]):
        _age(settings, media_id, "unattached_since", "25 hours")
        _age(settings, media_id, "urls_expire_at", "25 hours")
    key = media["cdnUrl"].split(f"/{settings.s3_bucket}/", 1)[1]
    assert len(_objects(s3, settings, key.rsplit(".", 1)[0])) == 3  # original, thumb, large

    _run_janitor(mesh)

    assert api.media(media["mediaId"]).status_code == 404
    assert _objects(s3, settings, key.rsplit(".", 1)[0]) == []
    assert httpx.get(media["cdnUrl"]).status_code != 200
    assert api.media(posted["mediaId"]).json()["postId"]  # attached: kept


def test_an_upload_whose_job_was_never_queued_is_queued(api: Api, mesh, settings):
    media_id = api.upload(small_jpeg())["mediaId"]
    wait_for(lambda: api.media(media_id).json()["status"] == "READY", "READY")
    # as if the broker had been down at complete: UPLOADED, never queued
    with psycopg2.connect(settings.database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "UPDATE media SET status = 'UPLOADED', enqueued_at = NULL, updated_at = updated_at - interval '1 hour'"
            " WHERE id = %s",
            (media_id,),
        )

    _run_janitor(mesh)

    wait_for(lambda: api.media(media_id).json()["status"] == "READY", "the queued job to finish")
