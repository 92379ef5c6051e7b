"""Per-part checksums of multipart uploads, against a media_service whose
storage is a tap in front of the S3 server. The tap reports each stored part's
SHA-256 in ListParts, as S3 and R2 do (the local S3 server reports none), and
can damage a part on its way, as a storage that checks nothing would keep it."""

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest

from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness.media_files import fake_mp4, write_fake_mp4
from media_client import MediaClient
from media_client.resume import ResumeStore
from media_formats.part_layout import layout_for
from tests.own_services import tapped_media_service
from tests.storage_tap import StorageTap

MIB = 1024 * 1024


@pytest.fixture
def tapped(mesh, tmp_path) -> Iterator[tuple[str, StorageTap]]:
    with tapped_media_service(mesh, tmp_path) as running:
        yield running


def _sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _parts(data: bytes) -> list[bytes]:
    layout = layout_for(len(data))
    return [data[i : i + layout.part_size] for i in range(0, len(data), layout.part_size)]


class Caller:
    """MediaService at the tapped address, as one user."""

    def __init__(self, address: str, token: str) -> None:
        self.stub = media_pb2_grpc.MediaServiceStub(grpc.insecure_channel(address))
        self.metadata = (("authorization", f"Bearer {token}"),)

    def __getattr__(self, name: str):
        method = getattr(self.stub, name)
        return lambda request: method(request, metadata=self.metadata, timeout=30)


def _session(caller: Caller, data: bytes, checksums: list[str]):
    return caller.CreateUploadSession(
        media_pb2.CreateUploadSessionRequest(
            file_name="clip.mp4",
            file_type="video/mp4",
            file_size=len(data),
            media_type="post-video",
            part_checksums_sha256=checksums,
        )
    )


def _put(url: str, part: bytes, checksum: str) -> str:
    reply = httpx.put(url, content=part, headers={"x-amz-checksum-sha256": checksum}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.headers["etag"]


@pytest.fixture
def caller(tapped, settings, user) -> Caller:
    return Caller(tapped[0], mint_token(settings, user))


def test_each_part_url_binds_its_checksum_and_complete_checks_what_storage_holds(
    caller, tapped, tmp_path
):
    _, tap = tapped
    data = fake_mp4(3 * 8 * MIB + 1000)  # 4 parts
    parts = _parts(data)
    checksums = [_sha256(p) for p in parts]
    session = _session(caller, data, checksums)
    signed = parse_qs(urlsplit(session.parts[0].upload_url).query)["X-Amz-SignedHeaders"][0]
    assert "x-amz-checksum-sha256" in signed.split(";")

    tap.corrupt_next_parts(1)  # part 1 is damaged on its way; storage keeps it so
    etags = [
        media_pb2.CompletedPart(part_number=u.part_number, etag=_put(u.upload_url, p, c))
        for u, p, c in zip(session.parts, parts, checksums, strict=True)
    ]
    request = media_pb2.CompleteMultipartUploadRequest(
        media_id=session.media_id, upload_id=session.upload_id, parts=etags
    )
    with pytest.raises(grpc.RpcError) as refused:
        caller.CompleteMultipartUpload(request)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stored = tap.part_checksums[(session.upload_id, 1)]
    assert refused.value.details() == (
        f"part 1 is not the part declared: storage holds SHA-256 {stored}, "
        f"the session declared {checksums[0]}; upload it again"
    )
    media = caller.GetMedia(media_pb2.GetMediaRequest(media_id=session.media_id))
    assert media.status == media_pb2.PENDING  # the client can put it right

    again = _put(session.parts[0].upload_url, parts[0], checksums[0])  # the right bytes again
    etags[0] = media_pb2.CompletedPart(part_number=1, etag=again)
    request = media_pb2.CompleteMultipartUploadRequest(
        media_id=session.media_id, upload_id=session.upload_id, parts=etags
    )
    completed = caller.CompleteMultipartUpload(request)
    # verified: UPLOADED, or already taken by a worker (a fake clip then fails to decode)
    assert completed.status in (media_pb2.UPLOADED, media_pb2.PROCESSING, media_pb2.FAILED)


@pytest.mark.parametrize(
    ("checksums", "message"),
    [
        (["x"] * 3, "partChecksumsSha256 has 3 entries; this upload has 2 parts"),
        (
            ["not base64!", "AAAA"],
            "partChecksumsSha256[0] must be the base64 of a 32-byte SHA-256 digest",
        ),
        ([_sha256(b"a"), ""], "partChecksumsSha256[1] is empty"),
    ],
)
def test_bad_part_checksums_are_refused_with_what_is_wrong(caller, checksums, message):
    data = b"\0" * (9 * MIB)  # 2 parts

    with pytest.raises(grpc.RpcError) as refused:
        _session(caller, data, checksums)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == message


def test_a_single_upload_declares_one_checksum_not_parts(caller):
    with pytest.raises(grpc.RpcError) as refused:
        _session(caller, b"\0" * 1000, [_sha256(b"\0" * 1000)])

    assert refused.value.details() == (
        "partChecksumsSha256 is for multipart uploads (over 5242880 bytes); "
        "a single upload declares checksumSha256"
    )


def test_the_python_client_declares_and_sends_every_parts_checksum(
    tapped, settings, user, tmp_path
):
    address, tap = tapped
    clip = tmp_path / "clip.mp4"
    write_fake_mp4(clip, 20 * MIB)
    with MediaClient(
        address, mint_token(settings, user), resume_store=ResumeStore(tmp_path / "resume")
    ) as client:
        media = client.upload(clip)

    assert media.status != media_pb2.PENDING  # completed (a fake clip may fail to decode after)
    data = clip.read_bytes()
    recorded = sorted((n, c) for (_, n), c in tap.part_checksums.items())
    assert recorded == [(n, _sha256(p)) for n, p in enumerate(_parts(data), 1)]
