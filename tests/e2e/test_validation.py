"""Bad declarations are refused up front with a precise message, recording nothing."""

import pytest

from harness.media_files import small_jpeg
from harness.rest import Api

MIB = 1024 * 1024
INVISIBLE = (
    "fileName contains invisible formatting characters (such as right-to-left override, "
    "zero-width or line-separator characters)"
)
GOOD = {"fileName": "a.jpg", "fileType": "image/jpeg", "fileSize": 1000, "mediaType": "post-image"}


@pytest.mark.parametrize(
    "body, message",
    [
        (
            {**GOOD, "mediaType": "banner"},
            "unknown mediaType 'banner' (known: post-image, post-video, avatar)",
        ),
        ({k: v for k, v in GOOD.items() if k != "mediaType"}, "mediaType is required"),
        ({k: v for k, v in GOOD.items() if k != "fileName"}, "fileName is required"),
        ({k: v for k, v in GOOD.items() if k != "fileType"}, "fileType is required"),
        ({k: v for k, v in GOOD.items() if k != "fileSize"}, "fileSize must be positive, got 0"),
        (
            {**GOOD, "fileType": "text/html"},
            "fileType 'text/html' is not allowed for post-image (allowed: image/jpeg, image/png, image/webp, image/gif, image/heic)",
        ),
        ({**GOOD, "fileSize": -1}, "fileSize must be positive, got -1"),
        (
            {**GOOD, "fileSize": 20 * MIB + 1},
            f"fileSize {20 * MIB + 1} exceeds the post-image limit of {20 * MIB} bytes",
        ),
        (
            {
                **GOOD,
                "mediaType": "post-video",
                "fileType": "video/mp4",
                "fileSize": 2 * 1024 * MIB + 1,
            },
            f"fileSize {2 * 1024 * MIB + 1} exceeds the post-video limit of {2 * 1024 * MIB} bytes",
        ),
        ({**GOOD, "fileName": "x" * 256}, "fileName is longer than 255 bytes"),
        ({**GOOD, "fileName": "a\u0007b.jpg"}, "fileName contains control characters"),
        ({**GOOD, "fileName": " \u3000 "}, "fileName is blank"),
        *[
            ({**GOOD, "fileName": f"invoice{ch}gpj.exe"}, INVISIBLE)
            for ch in ("\u202e", "\u200b", "\u2066", "\ufeff")
        ],
        (
            {**GOOD, "checksumSha256": "nope"},
            "checksumSha256 must be the base64 of a 32-byte SHA-256 digest",
        ),
    ],
)
def test_a_bad_declaration_is_400_and_records_nothing(api: Api, body, message):
    reply = api.http.post("/api/v1/media/upload-session", json=body)

    assert reply.status_code == 400
    assert reply.json()["message"] == message
    assert api.http.get("/api/v1/media").json()["media"] == []


@pytest.mark.parametrize(
    "body, reason, metadata",
    [
        ({**GOOD, "mediaType": "banner"}, "UNKNOWN_MEDIA_TYPE", {"mediaType": "banner"}),
        (
            {**GOOD, "fileType": "text/html"},
            "FILE_TYPE_NOT_ALLOWED",
            {"mediaType": "post-image", "fileType": "text/html"},
        ),
        (
            {**GOOD, "fileSize": 20 * MIB + 1},
            "FILE_TOO_LARGE",
            {"mediaType": "post-image", "limit": str(20 * MIB)},
        ),
        ({**GOOD, "fileName": " \u3000 "}, "INVALID_FIELD", {"field": "fileName"}),
    ],
)
def test_a_bad_declaration_names_its_reason_for_programs(api: Api, body, reason, metadata):
    reply = api.http.post("/api/v1/media/upload-session", json=body)

    assert reply.status_code == 400
    [info] = reply.json()["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert (info["reason"], info["domain"], info["metadata"]) == (reason, "media-mesh", metadata)


def test_the_storage_key_extension_comes_from_the_type_not_the_name(api: Api):
    reply = api.http.post(
        "/api/v1/media/upload-session",
        json={**GOOD, "fileName": "evil.html", "fileType": "image/png"},
    )

    assert reply.status_code == 200
    assert reply.json()["uploadUrl"].split("?")[0].endswith(".png")


TOO_MANY = (
    "too many uploads in progress: at most 20 per user whose upload URLs can still be used; "
    "complete one, or wait for the URLs of aborted or deleted ones to expire (within 15 minutes)"
)


def test_at_most_20_pending_sessions_per_user(api: Api):
    for _ in range(20):
        assert api.http.post("/api/v1/media/upload-session", json=GOOD).status_code == 200

    reply = api.http.post("/api/v1/media/upload-session", json=GOOD)

    assert reply.status_code == 429
    assert reply.json()["message"] == TOO_MANY
    [info] = reply.json()["details"]
    assert (info["reason"], info["metadata"]) == ("TOO_MANY_PENDING", {"limit": "20"})
    assert len(api.http.get("/api/v1/media", params={"pageSize": 100}).json()["media"]) == 20


def test_aborting_sessions_does_not_mint_live_upload_urls_past_the_limit(api: Api):
    # Given 20 sessions created and aborted at once: their URLs still work for 15 minutes
    for _ in range(20):
        media_id = api.http.post("/api/v1/media/upload-session", json=GOOD).json()["mediaId"]
        assert api.http.post(f"/api/v1/media/{media_id}/abort").status_code == 200

    # When one more is asked for
    reply = api.http.post("/api/v1/media/upload-session", json=GOOD)

    # Then it is refused, and nothing was recorded
    assert reply.status_code == 429
    assert reply.json()["message"] == TOO_MANY
    statuses = [
        m["status"] for m in api.http.get("/api/v1/media", params={"pageSize": 100}).json()["media"]
    ]
    assert statuses == ["ABORTED"] * 20


def test_deleting_uploads_does_not_mint_live_upload_urls_past_the_limit(api: Api):
    for _ in range(20):
        media_id = api.upload(small_jpeg())["mediaId"]
        assert api.http.delete(f"/api/v1/media/{media_id}").status_code == 200

    reply = api.http.post("/api/v1/media/upload-session", json=GOOD)

    assert reply.status_code == 429
    assert reply.json()["message"] == TOO_MANY
