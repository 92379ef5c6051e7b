"""What the gateway itself answers: CORS, unknown paths and parameters, bad JSON,
and the shape of REST replies (every field printed, at its default too)."""

import httpx
import pytest

from harness.rest import Api

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_a_preflight_from_the_demo_origin_is_allowed(settings):
    reply = httpx.options(
        f"{settings.gateway_url}/api/v1/media/upload-session",
        headers={"Origin": settings.cors_origins[0], **PREFLIGHT},
    )

    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == settings.cors_origins[0]
    assert "authorization" in reply.headers["access-control-allow-headers"]


def test_a_preflight_from_a_stranger_origin_gets_no_cors_grant(settings):
    reply = httpx.options(
        f"{settings.gateway_url}/api/v1/media/upload-session",
        headers={"Origin": "https://evil.example", **PREFLIGHT},
    )

    assert "access-control-allow-origin" not in reply.headers


def test_responses_to_an_allowed_origin_expose_the_grpc_status(api: Api, settings):
    reply = api.http.get("/api/v1/media", headers={"Origin": settings.cors_origins[0]})

    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == settings.cors_origins[0]
    assert "grpc-status" in reply.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        (
            "GET",
            "/api/v1/nothing-here",
            None,
            404,
            "Could not resolve /api/v1/nothing-here to a method.",
        ),
        (
            "GET",
            "/api/v1/media?colour=red",
            None,
            400,
            'Could not find field "colour" in the type "media.v1.ListMediaRequest".',
        ),
        ("POST", "/api/v1/media/upload-session", b"{not json", 400, None),
    ],
)
def test_requests_outside_the_api_get_a_json_error(api: Api, method, path, body, status, message):
    reply = api.http.request(method, path, content=body)

    assert reply.status_code == status
    error = reply.json()
    assert error["code"] in (3, 5)
    if message:
        assert error["message"] == message


def test_one_request_id_ties_the_gateway_log_to_the_service_log(api: Api, mesh):
    import json
    import uuid

    from harness.waiting import wait_for

    request_id = f"test-{uuid.uuid4()}"

    assert api.http.get("/api/v1/media", headers={"x-request-id": request_id}).status_code == 200

    def logged(name: str) -> list[dict]:
        lines = mesh.log_path(name).read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if request_id in line and line.startswith("{")]

    gateway_line = wait_for(lambda: logged("envoy"), "Envoy's access log line")[0]
    service_line = wait_for(lambda: logged("media_service"), "media_service's log line")[0]
    assert gateway_line["path"] == "/api/v1/media"
    assert gateway_line["status"] == 200
    assert service_line["method"] == "/media.v1.MediaService/ListMedia"
    assert service_line["request_id"] == request_id


def test_a_service_error_reads_code_message_and_details(api: Api):
    reply = api.media("no-such-media")

    assert reply.status_code == 404
    assert reply.json() == {
        "code": 5,
        "message": "media no-such-media not found",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "MEDIA_NOT_FOUND",
                "domain": "media-mesh",
                "metadata": {"mediaId": "no-such-media"},
            }
        ],
    }


def test_a_fresh_media_shows_every_field_at_its_default(api: Api, user: str):
    session = api.create_session(b"\xff\xd8\xff" * 10).json()

    media = api.media(session["mediaId"]).json()

    assert media["status"] == "PENDING"
    assert media["ownerId"] == user
    defaults = {
        "cdnUrl": "",
        "postId": "",  # not attached to a post
        "width": 0,
        "height": 0,
        "durationMs": "0",  # int64 is a string in proto3 JSON
        "posterUrl": "",
        "blurhash": "",
        "variants": [],
        "failureReason": "",
        "codec": "",
        "description": "",
        "processingProgress": 0,
        "visibility": "PUBLIC",
    }
    assert {name: media[name] for name in defaults} == defaults
    # A message field is the one kind left out while it is not set.
    assert "focus" not in media


def test_a_single_put_session_shows_the_multipart_fields_empty_and_the_reverse(api: Api):
    single = api.create_session(b"\xff\xd8\xff" * 10).json()
    multipart = api.create_session(
        b"", "video/mp4", fileSize=20 * 1024 * 1024, mediaType="post-video", fileName="clip.mp4"
    ).json()

    assert single["uploadUrl"] and single["uploadHeaders"]
    assert {k: single[k] for k in ("uploadId", "partSize", "totalParts", "parts")} == {
        "uploadId": "",
        "partSize": "0",
        "totalParts": 0,
        "parts": [],
    }
    assert single["deduplicated"] is False
    assert multipart["uploadId"] and multipart["totalParts"] == 3
    assert (multipart["uploadUrl"], multipart["uploadHeaders"]) == ("", {})
    assert multipart["deduplicated"] is False


def test_a_post_without_media_and_the_last_page_of_a_list_show_their_defaults(api: Api):
    post = api.create_post("just words", []).json()
    listing = api.http.get("/api/v1/media").json()

    assert post["media"] == []
    assert listing == {"media": [], "nextPageToken": ""}
