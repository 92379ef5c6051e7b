"""The four kinds of callers on the one gateway port, and nobody past auth.

Browsers (grpc-web, binary and text), scripts (REST), services (native gRPC)
and grpcurl; then the forgeries, through the gateway and straight at each
service port.
"""

import base64
import http.client
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway import devkeys
from gateway.devkeys import mint_token
from gateway.services import INTERNAL_METHODS
from genproto.media.v1 import media_pb2, media_pb2_grpc
from genproto.post.v1 import post_pb2, post_pb2_grpc
from tests.support import grpc_web_frame, grpc_web_reply

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def test_a_browser_lists_media_with_grpc_web(settings, api, user):
    media_id = api.create_session(b"\xff\xd8\xff" * 10).json()["mediaId"]
    request = media_pb2.ListMediaRequest(page_size=5).SerializeToString()

    reply = httpx.post(
        f"{settings.gateway_url}/media.v1.MediaService/ListMedia",
        content=grpc_web_frame(request),
        headers={
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            "authorization": f"Bearer {mint_token(settings, user)}",
            "origin": settings.cors_origins[0],
        },
    )

    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == settings.cors_origins[0]
    messages, trailers = grpc_web_reply(reply.content)
    assert trailers["grpc-status"] == "0"
    assert [m.media_id for m in media_pb2.ListMediaResponse.FromString(messages[0]).media] == [
        media_id
    ]


def test_grpc_web_text_works_too(settings, user):
    body = base64.b64encode(
        grpc_web_frame(post_pb2.ListFeedRequest(page_size=1).SerializeToString())
    )

    reply = httpx.post(
        f"{settings.gateway_url}/post.v1.PostService/ListFeed",
        content=body,
        headers={
            "content-type": "application/grpc-web-text",
            "accept": "application/grpc-web-text",
            "authorization": f"Bearer {mint_token(settings, user)}",
        },
    )

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/grpc-web-text")
    # each frame is base64-encoded on its own, padding and all
    chunks = re.findall(rb"[A-Za-z0-9+/]+={0,2}", reply.content)
    _, trailers = grpc_web_reply(b"".join(base64.b64decode(c) for c in chunks))
    assert trailers["grpc-status"] == "0"


def test_grpc_web_without_a_token_gets_grpc_status_16_not_a_plain_401(settings):
    reply = httpx.post(
        f"{settings.gateway_url}/media.v1.MediaService/ListMedia",
        content=grpc_web_frame(b""),
        headers={"content-type": "application/grpc-web+proto", "origin": settings.cors_origins[0]},
    )

    assert reply.headers["grpc-status"] == "16"
    assert reply.headers["grpc-message"] == "Jwt is missing"
    assert reply.headers["access-control-allow-origin"] == settings.cors_origins[0]


def test_grpcurl_lists_describes_and_calls_through_the_gateway_and_directly(settings, user):
    auth = ["-H", f"authorization: Bearer {mint_token(settings, user)}"]
    gateway = f"127.0.0.1:{settings.gateway_port}"

    def grpcurl(*args: str) -> str:
        result = subprocess.run(
            [GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert grpcurl(*auth, gateway, "list").split() == [
        "grpc.reflection.v1alpha.ServerReflection", "media.v1.MediaService", "post.v1.PostService"
    ]  # fmt: skip
    assert "rpc CreateUploadSession" in grpcurl(*auth, gateway, "describe", "media.v1.MediaService")
    session = json.loads(grpcurl(
        *auth, "-d", '{"file_name": "a.png", "file_type": "image/png", "file_size": 9, "media_type": "avatar"}',
        gateway, "media.v1.MediaService/CreateUploadSession",
    ))  # fmt: skip
    assert session["uploadHeaders"]["Content-Type"] == "image/png"
    direct = grpcurl(f"127.0.0.1:{settings.media_port}", "list").split()
    assert direct == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "media.v1.MediaService",
    ]
    health = json.loads(grpcurl(f"127.0.0.1:{settings.post_port}", "grpc.health.v1.Health/Check"))
    assert health == {"status": "SERVING"}


def test_reflection_through_the_gateway_shows_nothing_of_the_internal_methods(settings, user):
    auth = ["-H", f"authorization: Bearer {mint_token(settings, user)}"]
    gateway = f"127.0.0.1:{settings.gateway_port}"
    internal = [path.rpartition("/")[2] for path in INTERNAL_METHODS]
    assert {"AttachMedia", "DetachMedia", "ListPostMedia"} <= set(internal)

    def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [GRPCURL, "-plaintext", *auth, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    described = grpcurl(gateway, "describe", "media.v1.MediaService")
    assert described.returncode == 0, described.stderr
    assert "rpc GetMedia" in described.stdout
    assert [m for m in internal if f"rpc {m} " in described.stdout] == []
    for symbol in ("media.v1.AttachMediaRequest", "media.v1.ListPostMediaResponse"):
        refused = grpcurl(gateway, "describe", symbol)
        assert refused.returncode != 0
        assert f"Symbol not found: {symbol}" in refused.stderr
    # What the public methods use is all still there, and they can be called.
    for symbol in ("media.v1.ListMediaRequest", "media.v1.Media", "post.v1.Post"):
        assert grpcurl(gateway, "describe", symbol).returncode == 0, symbol
    listed = grpcurl("-d", '{"page_size": 5}', gateway, "media.v1.MediaService/ListMedia")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {}


def _claims(settings, **overrides):
    now = int(time.time())
    return {
        "sub": "alice",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": now + 600,
        **overrides,
    }


def _es256(settings, claims) -> str:
    key = settings.private_key_path.read_bytes()
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": devkeys.KEY_ID})


def _unsigned(claims) -> str:
    def part(value) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _resigned(settings) -> str:
    header, _, signature = devkeys.mint_token(settings, "alice").split(".")
    payload = (
        base64.urlsafe_b64encode(json.dumps(_claims(settings, sub="mallory")).encode())
        .decode()
        .rstrip("=")
    )
    return f"{header}.{payload}.{signature}"


_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

FORGERIES = {
    "alg-none": lambda s: _unsigned(_claims(s)),
    "hs256-made-up-key": lambda s: jwt.encode(
        _claims(s), "a-made-up-secret-key-that-is-long-enough", algorithm="HS256"
    ),
    "re-signed-payload": _resigned,
    "expired": lambda s: _es256(s, _claims(s, exp=int(time.time()) - 3600)),
    "other-issuer": lambda s: _es256(s, _claims(s, iss="https://evil.example")),
    "other-audience": lambda s: _es256(s, _claims(s, aud="another-app")),
    "rs256-header-on-the-es256-key": lambda s: jwt.encode(
        _claims(s), _RSA_KEY, algorithm="RS256", headers={"kid": devkeys.KEY_ID}
    ),
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_token_is_refused_by_the_gateway_and_by_each_service(settings, forgery):
    token = FORGERIES[forgery](settings)
    metadata = (
        ("authorization", f"Bearer {token}"),
        ("x-user-id", "alice"),
    )

    # A genuine token minted for another audience too: to the gateway (whose
    # jwt_authn would say 403) as to the services it is no token of theirs.
    rest = httpx.get(f"{settings.gateway_url}/api/v1/media", headers=dict(metadata))
    assert rest.status_code == 401
    assert rest.json()["code"] == 16
    assert _list_media_status(settings.gateway_port, metadata) == grpc.StatusCode.UNAUTHENTICATED
    grpc_web = httpx.post(
        f"{settings.gateway_url}/media.v1.MediaService/ListMedia",
        content=grpc_web_frame(b""),
        headers={"content-type": "application/grpc-web+proto", **dict(metadata)},
    )
    assert grpc_web.headers["grpc-status"] == "16"
    assert _list_media_status(settings.media_port, metadata) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as raised:
        post_pb2_grpc.PostServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{settings.post_port}")
        ).ListFeed(post_pb2.ListFeedRequest(), metadata=metadata, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _list_media_status(port: int, metadata) -> grpc.StatusCode:
    stub = media_pb2_grpc.MediaServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListMedia(media_pb2.ListMediaRequest(), metadata=metadata, timeout=10)
    return raised.value.code()


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Token"])
def test_only_the_bearer_scheme_spelled_so_is_read_at_both_layers(settings, user, scheme):
    metadata = (("authorization", f"{scheme} {mint_token(settings, user)}"),)

    rest = httpx.get(f"{settings.gateway_url}/api/v1/media", headers=dict(metadata))

    assert rest.status_code == 401
    assert _list_media_status(settings.gateway_port, metadata) == grpc.StatusCode.UNAUTHENTICATED
    assert _list_media_status(settings.media_port, metadata) == grpc.StatusCode.UNAUTHENTICATED


def test_a_token_in_the_query_string_is_not_read(settings, user):
    token = mint_token(settings, user)

    for param in ("access_token", "token"):
        reply = httpx.get(f"{settings.gateway_url}/api/v1/media", params={param: token})
        assert reply.status_code == 401


def test_x_user_id_cannot_choose_the_user(api, other_api, settings):
    mine = api.create_session(b"\xff\xd8\xff" * 10).json()["mediaId"]

    spoofed = other_api.http.get(f"/api/v1/media/{mine}", headers={"x-user-id": api_user(api)})

    assert spoofed.status_code == 404


def api_user(api) -> str:
    token = api.http.headers["authorization"].split()[1]
    return jwt.decode(token, options={"verify_signature": False})["sub"]


@pytest.mark.parametrize("path", ["/x/../api/v1/media", "/api//v1/media", "/api/v1/./media"])
def test_paths_are_normalised_before_any_decision(settings, api, path):
    canonical = api.http.get("/api/v1/media").json()
    connection = http.client.HTTPConnection("127.0.0.1", settings.gateway_port, timeout=10)

    connection.request("GET", path, headers={"authorization": api.http.headers["authorization"]})
    reply = connection.getresponse()

    assert reply.status == 200
    assert json.loads(reply.read()) == canonical


def test_internal_methods_need_the_service_credential_even_with_a_user_token(settings, user):
    stub = media_pb2_grpc.MediaServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{settings.media_port}")
    )
    metadata = (
        ("authorization", f"Bearer {mint_token(settings, user)}"),
        ("x-mesh-service-token", "guess"),
    )

    with pytest.raises(grpc.RpcError) as raised:
        stub.AttachMedia(
            media_pb2.AttachMediaRequest(post_id="p", media_ids=["m"]),
            metadata=metadata,
            timeout=10,
        )

    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (
        raised.value.details()
        == "AttachMedia is internal to the mesh: only its services may call it"
    )


def test_a_rest_body_over_the_limit_is_413(api):
    reply = api.http.post(
        "/feed/submit", content=b'{"content": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    )

    assert reply.status_code == 413
