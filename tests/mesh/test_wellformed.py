"""Requests no servicer should see: undecodable bytes, NUL characters."""

import pytest

from genproto.media.v1 import media_pb2
from genproto.post.v1 import post_pb2
from mesh.wellformed import Undecodable, refusal_of, tolerant


def test_a_good_request_has_no_problem():
    request = media_pb2.CompleteMultipartUploadRequest(
        media_id="m", upload_id="u", parts=[media_pb2.CompletedPart(part_number=1, etag='"e"')]
    )

    assert refusal_of(request) is None


@pytest.mark.parametrize(
    "request_, path",
    [
        (post_pb2.CreatePostRequest(content="a\x00"), "content"),
        (post_pb2.CreatePostRequest(media_ids=["ok", "b\x00"]), "mediaIds[1]"),
        (
            media_pb2.CompleteMultipartUploadRequest(
                parts=[media_pb2.CompletedPart(part_number=1, etag="\x00")]
            ),
            "parts[0].etag",
        ),
        (
            media_pb2.CreateUploadSessionResponse(upload_headers={"k\x00": "v"}),
            "uploadHeaders",
        ),
        (media_pb2.CreateUploadSessionResponse(upload_headers={"k": "\x00"}), "uploadHeaders"),
    ],
    ids=["field", "repeated", "nested", "map-key", "map-value"],
)
def test_a_nul_anywhere_is_named_by_its_json_path(request_, path):
    refusal = refusal_of(request_)

    assert refusal is not None
    assert refusal.message == f"{path} must not contain NUL characters"
    assert (refusal.reason, refusal.metadata) == ("INVALID_FIELD", {"field": path})


def test_bytes_that_are_not_utf_8_decode_to_a_named_problem():
    decode = tolerant(media_pb2.GetMediaRequest.FromString)

    request = decode(b"\x0a\x02\xff\xfe")

    refusal = refusal_of(request)

    assert isinstance(request, Undecodable)
    assert refusal is not None
    assert refusal.message == (
        "the request is not a valid media.v1.GetMediaRequest: String field had bad UTF-8"
    )
    assert refusal.reason == "MALFORMED_REQUEST"


def test_good_bytes_decode_as_before():
    decode = tolerant(media_pb2.GetMediaRequest.FromString)

    assert decode(media_pb2.GetMediaRequest(media_id="é").SerializeToString()).media_id == "é"
