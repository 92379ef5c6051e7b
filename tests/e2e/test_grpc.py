"""Native gRPC through the gateway and straight at a service port."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2, media_pb2_grpc


def _stub(address: str) -> media_pb2_grpc.MediaServiceStub:
    return media_pb2_grpc.MediaServiceStub(grpc.insecure_channel(address))


def _addresses(settings) -> list[str]:
    return [f"127.0.0.1:{settings.gateway_port}", f"127.0.0.1:{settings.media_port}"]


def test_native_grpc_creates_a_session_through_the_gateway_and_directly(settings, user):
    metadata = (("authorization", f"Bearer {mint_token(settings, user)}"),)
    request = media_pb2.CreateUploadSessionRequest(
        file_name="a.png", file_type="image/png", file_size=10, media_type="avatar"
    )

    for address in _addresses(settings):
        reply = _stub(address).CreateUploadSession(request, metadata=metadata, timeout=10)
        assert reply.media_id
        assert reply.upload_headers["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    "metadata", [[], [("x-user-id", "alice")], [("authorization", "Bearer nonsense")]]
)
def test_a_call_without_a_valid_token_is_unauthenticated_everywhere(settings, metadata):
    for address in _addresses(settings):
        with pytest.raises(grpc.RpcError) as raised:
            _stub(address).ListMedia(media_pb2.ListMediaRequest(), metadata=metadata, timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_internal_methods_are_not_routed_by_the_gateway(settings, user):
    metadata = (("authorization", f"Bearer {mint_token(settings, user)}"),)
    with pytest.raises(grpc.RpcError) as raised:
        _stub(f"127.0.0.1:{settings.gateway_port}").AttachMedia(
            media_pb2.AttachMediaRequest(post_id="p", media_ids=[]), metadata=metadata, timeout=10
        )
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_more_calls_at_once_than_pooled_connections_wait_for_one(settings, user):
    """A server process runs more calls at once than it pools connections (each
    open stream holds a thread): the extra calls wait for a connection, they
    do not fail."""
    metadata = (("authorization", f"Bearer {mint_token(settings, user)}"),)
    stub = _stub(f"127.0.0.1:{settings.media_port}")

    def list_media(_: int) -> str:
        try:
            stub.ListMedia(media_pb2.ListMediaRequest(), metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return error.code().name
        return "OK"

    with ThreadPoolExecutor(max_workers=96) as pool:
        outcomes = Counter(pool.map(list_media, range(1000)))

    assert outcomes == {"OK": 1000}
