"""The single-PUT upload flow through the real gateway, storage and workers."""

import re

import httpx

from harness.media_files import small_jpeg
from harness.rest import Api, put
from harness.waiting import wait_for
from tests.support import storage_key

KEY_PATTERN = r"post-image/{user}/\d{{13}}-{media_id}\.jpg"


def test_a_photo_goes_from_session_to_ready_and_is_served_by_its_cdn_url(
    api: Api, user: str, settings
):
    data = small_jpeg()

    # Given an upload session
    reply = api.create_session(data, fileName="../../etc/passwd.jpg")
    assert reply.status_code == 200, reply.text
    session = reply.json()
    media_id = session["mediaId"]
    assert session["uploadHeaders"] == {"Content-Type": "image/jpeg", "If-None-Match": "*"}
    assert "X-Amz-Expires=900" in session["uploadUrl"]
    assert re.fullmatch(
        KEY_PATTERN.format(user=user, media_id=media_id), storage_key(session, settings.s3_bucket)
    )
    assert api.media(media_id).json()["status"] == "PENDING"

    # When the file is PUT straight to storage and the upload completed
    put(session, data)
    completed = api.complete(media_id)

    # Then it is UPLOADED with a CDN URL that serves the same bytes, and processing finishes it
    assert completed.status_code == 200, completed.text
    body = completed.json()
    assert body["mediaId"] == media_id
    # the current status: the worker may already have started on it
    assert body["status"] in ("UPLOADED", "PROCESSING", "READY")
    assert httpx.get(body["cdnUrl"]).content == data
    record = wait_for(lambda: _ready(api, media_id), "processing to mark the media READY")
    assert record["fileSize"] == str(len(data))
    assert record["fileName"] == "../../etc/passwd.jpg"
    assert record["ownerId"] == user


def _ready(api: Api, media_id: str):
    record = api.media(media_id).json()
    return record if record["status"] == "READY" else None


def test_a_repeated_complete_returns_the_same_result(api: Api):
    data = small_jpeg()
    session = api.create_session(data).json()
    put(session, data)

    first = api.complete(session["mediaId"])
    second = api.complete(session["mediaId"])

    assert first.status_code == second.status_code == 200
    assert second.json()["cdnUrl"] == first.json()["cdnUrl"]
    assert second.json()["mediaId"] == first.json()["mediaId"]


def test_complete_before_the_upload_is_refused_and_the_session_stays_pending(api: Api):
    session = api.create_session(small_jpeg()).json()

    reply = api.complete(session["mediaId"])

    assert reply.status_code == 400
    assert reply.json()["code"] == 9  # FAILED_PRECONDITION
    assert reply.json()["message"] == (
        f"nothing has been uploaded for media {session['mediaId']} yet: PUT the file to its "
        "uploadUrl first"
    )
    assert api.media(session["mediaId"]).json()["status"] == "PENDING"


def test_a_stored_object_of_another_size_is_rejected_and_removed(api: Api, s3, settings):
    declared = small_jpeg(4096)
    session = api.create_session(declared).json()
    # moto does not enforce the signed Content-Length, so a client can store fewer bytes
    put(session, declared[:1000])

    reply = api.complete(session["mediaId"])

    assert reply.status_code == 400
    assert (
        reply.json()["message"]
        == "upload rejected: size mismatch: declared 4096 bytes, stored 1000"
    )
    record = api.media(session["mediaId"]).json()
    assert record["status"] == "REJECTED"
    assert record["failureReason"] == "size mismatch: declared 4096 bytes, stored 1000"
    listing = s3.list_objects_v2(
        Bucket=settings.s3_bucket, Prefix=storage_key(session, settings.s3_bucket)
    )
    assert listing.get("KeyCount") == 0


def test_a_stored_object_of_another_type_is_rejected(api: Api):
    data = small_jpeg()
    session = api.create_session(data).json()
    put(session, data, **{"Content-Type": "text/html"})

    reply = api.complete(session["mediaId"])

    assert reply.status_code == 400
    assert (
        reply.json()["message"]
        == "upload rejected: type mismatch: declared image/jpeg, stored text/html"
    )
    [info] = reply.json()["details"]
    assert (info["reason"], info["metadata"]) == ("TYPE_MISMATCH", {"mediaId": session["mediaId"]})
    assert api.media(session["mediaId"]).json()["status"] == "REJECTED"


def test_a_rejected_upload_cannot_be_completed_again(api: Api):
    data = small_jpeg()
    session = api.create_session(data).json()
    put(session, data[:10])
    assert api.complete(session["mediaId"]).status_code == 400

    reply = api.complete(session["mediaId"])

    assert reply.status_code == 400
    assert reply.json()["message"] == (
        f"media {session['mediaId']} is REJECTED; only a PENDING upload can be completed"
    )
    [info] = reply.json()["details"]
    assert (info["reason"], info["metadata"]) == (
        "UPLOAD_NOT_PENDING",
        {"mediaId": session["mediaId"], "status": "REJECTED"},
    )


def test_no_token_is_401_with_a_json_error(anonymous: Api):
    reply = anonymous.create_session(small_jpeg())

    assert reply.status_code == 401
    assert reply.json() == {"code": 16, "message": "Jwt is missing", "details": []}


def test_another_users_media_is_not_found(api: Api, other_api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]

    for reply in (other_api.media(media_id), other_api.complete(media_id)):
        assert reply.status_code == 404
        assert reply.json()["message"] == f"media {media_id} not found"


def test_an_unknown_media_is_not_found(api: Api):
    reply = api.media("00000000-0000-0000-0000-000000000000")

    assert reply.status_code == 404
    assert reply.json()["message"] == "media 00000000-0000-0000-0000-000000000000 not found"


def test_the_callers_media_are_listed_newest_first_in_pages(api: Api):
    ids = [api.create_session(small_jpeg()).json()["mediaId"] for _ in range(3)]

    first = api.http.get("/api/v1/media", params={"pageSize": 2}).json()
    second = api.http.get(
        "/api/v1/media", params={"pageSize": 2, "pageToken": first["nextPageToken"]}
    ).json()

    assert [m["mediaId"] for m in first["media"]] == ids[::-1][:2]
    assert [m["mediaId"] for m in second["media"]] == ids[::-1][2:]
    assert second["nextPageToken"] == ""  # the last page


def test_an_aborted_upload_is_removed_from_storage_and_cannot_be_completed(api: Api, s3, settings):
    data = small_jpeg()
    session = api.create_session(data).json()
    put(session, data)

    aborted = api.http.post(f"/api/v1/media/{session['mediaId']}/abort")

    assert aborted.status_code == 200
    assert aborted.json()["status"] == "ABORTED"
    key = storage_key(session, settings.s3_bucket)
    assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key).get("KeyCount") == 0
    completed = api.complete(session["mediaId"])
    assert completed.status_code == 400
    assert (
        completed.json()["message"]
        == f"media {session['mediaId']} is ABORTED; only a PENDING upload can be completed"
    )


def test_a_completed_upload_cannot_be_aborted(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]

    reply = api.http.post(f"/api/v1/media/{media_id}/abort")

    assert reply.status_code == 400
    assert reply.json()["message"].startswith(f"media {media_id} is ")
    assert reply.json()["message"].endswith("; only a PENDING upload can be aborted")


def test_an_unattached_media_is_deleted_with_its_object(api: Api, s3, settings):
    media = api.upload(small_jpeg())
    key = media["cdnUrl"].split(f"/{settings.s3_bucket}/", 1)[1]

    reply = api.http.delete(f"/api/v1/media/{media['mediaId']}")

    assert reply.status_code == 200
    assert reply.json()["status"] == "DELETED"
    assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key).get("KeyCount") == 0
    assert api.media(media["mediaId"]).status_code == 404


def test_an_attached_media_cannot_be_deleted(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    post_id = api.create_post("keep", [media_id]).json()["postId"]

    reply = api.http.delete(f"/api/v1/media/{media_id}")

    assert reply.status_code == 409
    assert (
        reply.json()["message"]
        == f"media {media_id} is attached to post {post_id}; delete the post first"
    )
    [info] = reply.json()["details"]
    assert (info["reason"], info["metadata"]) == (
        "MEDIA_ATTACHED",
        {"mediaId": media_id, "postId": post_id},
    )
    assert api.media(media_id).json()["postId"] == post_id
