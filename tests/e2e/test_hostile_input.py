"""Hostile input gets a precise 400 (or 401) on PostgreSQL, never a 500, an
inventory of internal headers, or a half-written record.

NUL characters (which PostgreSQL cannot store), bytes that are not UTF-8,
ids longer than any id the mesh makes, and a subject longer than a user id
can be, sent as a client would: through the gateway, and straight at the
service ports.
"""

import grpc
import httpx
import pytest

from gateway.devkeys import mint_token
from harness.media_files import small_jpeg
from harness.rest import Api
from tests.support import posts_of


def _error(reply: httpx.Response, status: int, message: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.json()["message"] == message


@pytest.mark.parametrize(
    "body, message",
    [
        ({"content": "hello\u0000world"}, "content must not contain NUL characters"),
        ({"content": "x", "mediaIds": ["\u0000"]}, "mediaIds[0] must not contain NUL characters"),
        (
            {"content": "x", "idempotencyKey": "key\u0000"},
            "idempotencyKey must not contain NUL characters",
        ),
        ({"content": "x", "mediaIds": ["m" * 20_000]}, "mediaIds is longer than 36 characters"),
    ],
    ids=["nul-content", "nul-media-id", "nul-idempotency-key", "huge-media-id"],
)
def test_a_bad_post_is_400_and_writes_nothing(api: Api, settings, user, body, message):
    reply = api.http.post("/feed/submit", json=body)

    _error(reply, 400, message)
    assert posts_of(settings.database_url, user) == []


@pytest.mark.parametrize(
    "path, params, message",
    [
        (f"/api/v1/media/{'a' * 20_000}", {}, "mediaId is longer than 36 characters"),
        (
            "/api/v1/media/%FF%FE",
            {},
            "the request is not a valid media.v1.GetMediaRequest: String field had bad UTF-8",
        ),
        ("/api/v1/media", {"pageToken": "\u0000"}, "pageToken must not contain NUL characters"),
        ("/api/v1/media", {"pageToken": "A" * 5000}, "pageToken is not a token this server issued"),
        (f"/api/v1/posts/{'p' * 20_000}", {}, "postId is longer than 36 characters"),
        (
            "/api/v1/posts/%C3%28",
            {},
            "the request is not a valid post.v1.GetPostRequest: String field had bad UTF-8",
        ),
        ("/feed", {"pageToken": "\u0000"}, "pageToken must not contain NUL characters"),
    ],
    ids=[
        "huge-media-id",
        "bad-utf8-media-id",
        "nul-page-token",
        "huge-page-token",
        "huge-post-id",
        "bad-utf8-post-id",
        "nul-feed-token",
    ],
)
def test_a_bad_read_is_400_with_a_short_answer(api: Api, path, params, message):
    reply = api.http.get(path, params=params)

    _error(reply, 400, message)
    assert len(reply.content) < 1000
    assert "x-envoy" not in reply.text


@pytest.mark.parametrize("path", ["/api/v1/media/%00", "/api/v1/posts/a%00b"])
def test_a_nul_in_the_path_is_refused_by_the_gateway_itself(api: Api, path):
    reply = api.http.get(path)

    assert reply.status_code == 400
    assert reply.json()["code"] == 3


@pytest.mark.parametrize(
    "action", ["complete", "abort", "parts", "delete"], ids=lambda action: action
)
def test_every_media_id_is_bounded_before_lookup(api: Api, action):
    media_id = "a" * 5000
    path = f"/api/v1/media/{media_id}"
    reply = {
        "complete": lambda: api.http.post(f"{path}/complete"),
        "abort": lambda: api.http.post(f"{path}/abort"),
        "parts": lambda: api.http.get(f"{path}/parts"),
        "delete": lambda: api.http.delete(path),
    }[action]()

    _error(reply, 400, "mediaId is longer than 36 characters")


def test_a_long_request_id_is_not_refused_and_reveals_nothing(api: Api):
    reply = api.http.get("/api/v1/media", headers={"x-request-id": "r" * 15_000})

    assert reply.status_code == 200, reply.text[:300]
    assert "metadata" not in reply.text


def test_a_subject_too_long_to_be_a_user_is_401_everywhere(settings):
    token = mint_token(settings, "u" * 300)
    message = "invalid token: the subject is longer than 255 characters"

    for path in ("/api/v1/media", "/feed"):
        reply = httpx.get(settings.gateway_url + path, headers={"authorization": f"Bearer {token}"})
        _error(reply, 401, message)
    created = httpx.post(
        f"{settings.gateway_url}/api/v1/media/upload-session",
        headers={"authorization": f"Bearer {token}"},
        json={"fileName": "a.jpg", "fileType": "image/jpeg", "fileSize": 10, "mediaType": "avatar"},
    )
    _error(created, 401, message)


@pytest.mark.parametrize("service", ["media", "post"])
def test_bytes_that_are_not_a_request_are_invalid_argument_at_each_service(settings, user, service):
    port, method, request_type = {
        "media": (
            settings.media_port,
            "/media.v1.MediaService/GetMedia",
            "media.v1.GetMediaRequest",
        ),
        "post": (settings.post_port, "/post.v1.PostService/GetPost", "post.v1.GetPostRequest"),
    }[service]
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = grpc.insecure_channel(
        f"127.0.0.1:{port}"
    ).unary_unary(method, request_serializer=None, response_deserializer=None)

    with pytest.raises(grpc.RpcError) as raised:
        # field 1 (the id), length 2, bytes that are not UTF-8
        call(
            b"\x0a\x02\xff\xfe",
            metadata=(("authorization", f"Bearer {mint_token(settings, user)}"),),
            timeout=10,
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        f"the request is not a valid {request_type}: String field had bad UTF-8"
    )


def test_an_undecodable_request_without_a_token_is_still_unauthenticated(settings):
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = grpc.insecure_channel(
        f"127.0.0.1:{settings.media_port}"
    ).unary_unary(
        "/media.v1.MediaService/GetMedia", request_serializer=None, response_deserializer=None
    )

    with pytest.raises(grpc.RpcError) as raised:
        call(b"\x0a\x02\xff\xfe", timeout=10)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_nul_in_a_nested_field_is_named_by_its_path(api: Api):
    data = small_jpeg()
    media_id = api.create_session(data).json()["mediaId"]

    reply = api.http.post(
        f"/api/v1/media/{media_id}/complete-multipart",
        json={"uploadId": "u", "parts": [{"partNumber": 1, "etag": "\u0000"}]},
    )

    _error(reply, 400, "parts[0].etag must not contain NUL characters")
    assert api.media(media_id).json()["status"] == "PENDING"
