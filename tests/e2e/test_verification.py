"""Every lie a client can tell about its file is caught at complete (moto
enforces none of the presigned bindings, so these checks stand alone)."""

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.media_files import small_jpeg
from harness.rest import Api, put
from tests.support import storage_key, times_queued

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
HTML = b"<!DOCTYPE html><html><body>not a photo</body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


def _sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.mark.parametrize(
    "data, reason",
    [
        (HTML, "content is HTML, not image/jpeg"),
        (SVG, "content is SVG/XML, not image/jpeg"),
        (PNG, "content is image/png, not image/jpeg"),
        (b"\xff\xd8", "content is too short to be image/jpeg (truncated header)"),
        (b"\x00" * 100, "content is not image/jpeg"),
    ],
    ids=["html", "svg", "png-as-jpeg", "truncated", "unknown"],
)
def test_content_that_is_not_the_declared_type_is_rejected_and_removed(
    api: Api, s3, settings, data, reason
):
    session = api.create_session(data).json()
    put(session, data)

    reply = api.complete(session["mediaId"])

    assert reply.status_code == 400
    assert reply.json()["message"] == f"upload rejected: {reason}"
    [info] = reply.json()["details"]
    assert info["reason"] == "CONTENT_MISMATCH"
    assert info["metadata"] == {"mediaId": session["mediaId"]}
    record = api.media(session["mediaId"]).json()
    assert record["status"] == "REJECTED"
    assert record["failureReason"] == reason
    key = storage_key(session, settings.s3_bucket)
    assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key).get("KeyCount") == 0


def test_a_declared_checksum_is_bound_into_the_upload_and_checked(api: Api):
    data = small_jpeg()
    session = api.create_session(data, checksumSha256=_sha256(data)).json()

    signed = httpx.URL(session["uploadUrl"]).params["X-Amz-SignedHeaders"].split(";")
    assert {"content-length", "content-type", "if-none-match", "x-amz-checksum-sha256"} <= set(
        signed
    )
    assert session["uploadHeaders"]["x-amz-checksum-sha256"] == _sha256(data)
    put(session, data)
    assert api.complete(session["mediaId"]).status_code == 200


def test_a_checksum_in_loose_base64_is_made_canonical_at_session_creation(api: Api):
    data = small_jpeg()
    canonical = _sha256(data)
    # Set the two unused low bits of the last base64 character: the same digest.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    loose = canonical[:42] + alphabet[alphabet.index(canonical[42]) | 0b11] + "="
    assert loose != canonical

    session = api.create_session(data, checksumSha256=loose).json()
    put(session, data)
    reply = api.complete(session["mediaId"])

    assert session["uploadHeaders"]["x-amz-checksum-sha256"] == canonical
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] in ("UPLOADED", "PROCESSING", "READY")


@pytest.mark.parametrize(
    "send_header", [True, False], ids=["with-declared-header", "without-header"]
)
def test_bytes_that_do_not_match_the_declared_checksum_are_rejected(api: Api, send_header):
    declared, sent = small_jpeg(), small_jpeg()
    session = api.create_session(declared, checksumSha256=_sha256(declared)).json()
    headers = dict(session["uploadHeaders"])
    if not send_header:
        del headers["x-amz-checksum-sha256"]
    put({**session, "uploadHeaders": headers}, sent)

    reply = api.complete(session["mediaId"])

    assert reply.status_code == 400
    assert reply.json()["message"] == (
        f"upload rejected: checksum mismatch: declared {_sha256(declared)}, stored bytes hash to {_sha256(sent)}"
    )
    assert api.media(session["mediaId"]).json()["status"] == "REJECTED"


def test_racing_completes_all_get_the_same_result_and_queue_processing_once(api: Api, mesh):
    data = small_jpeg()
    session = api.create_session(data).json()
    put(session, data)

    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda _: api.complete(session["mediaId"]), range(6)))

    assert [r.status_code for r in replies] == [200] * 6
    assert len({r.json()["cdnUrl"] for r in replies}) == 1
    assert times_queued(mesh, session["mediaId"]) == 1
