"""Multipart uploads through the gateway: parallel parts, resume, every mistake named."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.media_files import fake_mp4
from harness.rest import Api, put_part
from tests.support import times_queued

MIB = 1024 * 1024
SIZE = 17 * MIB  # three parts: 8 + 8 + 1 MiB


def _session(api: Api, size: int = SIZE) -> dict:
    reply = api.create_session(
        b"", file_type="video/mp4", fileSize=size, mediaType="post-video", fileName="clip.mp4"
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def _chunks(data: bytes, part_size: int) -> list[bytes]:
    return [data[i : i + part_size] for i in range(0, len(data), part_size)]


def _put_parts(session: dict, data: bytes, numbers: list[int] | None = None) -> dict[int, str]:
    """PUT the given parts (default all) in parallel; their ETags by number."""
    chunks = _chunks(data, int(session["partSize"]))
    urls = {p["partNumber"]: p["uploadUrl"] for p in session["parts"]}
    numbers = numbers or sorted(urls)
    with ThreadPoolExecutor(max_workers=4) as pool:
        etags = pool.map(lambda n: put_part(urls[n], chunks[n - 1]), numbers)
    return dict(zip(numbers, etags, strict=True))


@pytest.fixture(scope="module")
def video() -> bytes:
    return fake_mp4(SIZE)


def test_a_large_video_is_uploaded_in_parallel_parts_and_assembled_byte_for_byte(
    api: Api, video: bytes
):
    session = _session(api)
    assert session["partSize"] == str(8 * MIB)
    assert session["totalParts"] == 3
    assert [p["partNumber"] for p in session["parts"]] == [1, 2, 3]
    assert session["uploadUrl"] == "" and session["uploadHeaders"] == {}  # no single PUT

    etags = _put_parts(session, video)
    reply = api.complete_multipart(session["mediaId"], session["uploadId"], sorted(etags.items()))

    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] in ("UPLOADED", "PROCESSING", "READY")
    assert httpx.get(reply.json()["cdnUrl"], timeout=60).content == video
    again = api.complete_multipart(session["mediaId"], session["uploadId"], sorted(etags.items()))
    assert again.status_code == 200
    assert again.json()["cdnUrl"] == reply.json()["cdnUrl"]


def test_a_client_that_lost_its_state_resumes_from_the_stored_parts(api: Api, video: bytes):
    session = _session(api)
    first = _put_parts(session, video, [1, 3])

    listing = api.parts(session["mediaId"]).json()

    assert [(p["partNumber"], p["etag"]) for p in listing["storedParts"]] == sorted(first.items())
    assert [p["partNumber"] for p in listing["missingParts"]] == [2]
    assert listing["uploadId"] == session["uploadId"]
    rest = _put_parts({**session, "parts": listing["missingParts"]}, video, [2])
    reply = api.complete_multipart(
        session["mediaId"], session["uploadId"], sorted({**first, **rest}.items())
    )
    assert reply.status_code == 200, reply.text


def test_urls_for_many_parts_come_a_batch_at_a_time(api: Api):
    session = _session(api, size=2 * 1024 * MIB)
    assert session["totalParts"] == 256
    assert [p["partNumber"] for p in session["parts"]] == list(range(1, 101))

    second = api.parts(session["mediaId"], marker=100).json()
    third = api.parts(session["mediaId"], marker=second["nextPartNumberMarker"]).json()

    assert [p["partNumber"] for p in second["missingParts"]] == list(range(101, 201))
    assert second["nextPartNumberMarker"] == 200
    assert [p["partNumber"] for p in third["missingParts"]] == list(range(201, 257))
    assert third["nextPartNumberMarker"] == 0  # the last batch
    signed = httpx.URL(third["missingParts"][-1]["uploadUrl"]).params["X-Amz-SignedHeaders"]
    assert "content-length" in signed.split(";")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda parts, _: parts[:2], "parts missing from the list: 3 (of 3)"),
        (lambda parts, _: [*parts, (4, '"x"')], "part number 4 is outside 1..3"),
        (
            lambda parts, _: [*parts[:2], (2, parts[1][1])] + parts[2:],
            "part 2 is listed more than once",
        ),
        (
            lambda parts, _: [parts[0], (2, '"0123456789abcdef0123456789abcdef"'), parts[2]],
            'part 2: ETag "0123456789abcdef0123456789abcdef" does not match the stored part',
        ),
        (lambda parts, _: [], "parts is required: list every part with its ETag"),
    ],
    ids=["missing", "out-of-range", "duplicate", "wrong-etag", "empty"],
)
def test_a_wrong_parts_list_is_refused_and_a_corrected_retry_succeeds(
    api: Api, video: bytes, edit, message
):
    session = _session(api)
    parts = sorted(_put_parts(session, video).items())

    reply = api.complete_multipart(session["mediaId"], session["uploadId"], edit(parts, session))

    assert reply.status_code == 400
    assert reply.json()["message"] == message
    assert api.media(session["mediaId"]).json()["status"] == "PENDING"
    retry = api.complete_multipart(session["mediaId"], session["uploadId"], parts)
    assert retry.status_code == 200, retry.text


def test_a_part_never_uploaded_is_named(api: Api, video: bytes):
    session = _session(api)
    etags = _put_parts(session, video, [1, 2])

    reply = api.complete_multipart(
        session["mediaId"], session["uploadId"], [*etags.items(), (3, '"abc"')]
    )

    assert reply.status_code == 400
    assert reply.json()["message"] == "part 3 has not been uploaded"
    assert api.media(session["mediaId"]).json()["status"] == "PENDING"


def test_a_wrong_upload_id_is_refused(api: Api, video: bytes):
    session = _session(api)
    parts = sorted(_put_parts(session, video).items())

    reply = api.complete_multipart(session["mediaId"], "not-the-upload-id", parts)

    assert reply.status_code == 400
    assert (
        reply.json()["message"]
        == f"uploadId does not match the upload of media {session['mediaId']}"
    )
    assert api.media(session["mediaId"]).json()["status"] == "PENDING"


def test_a_short_last_part_makes_a_short_object_which_is_rejected_and_removed(
    api: Api, video: bytes, s3, settings
):
    session = _session(api)
    chunks = _chunks(video, 8 * MIB)
    urls = {p["partNumber"]: p["uploadUrl"] for p in session["parts"]}
    # moto does not enforce the signed Content-Length: the last part arrives short
    parts = [(n, put_part(urls[n], chunks[n - 1][: -1000 if n == 3 else None])) for n in (1, 2, 3)]

    reply = api.complete_multipart(session["mediaId"], session["uploadId"], parts)

    assert reply.status_code == 400
    assert (
        reply.json()["message"]
        == f"upload rejected: size mismatch: declared {SIZE} bytes, stored {SIZE - 1000}"
    )
    record = api.media(session["mediaId"]).json()
    assert record["status"] == "REJECTED"
    uploads = s3.list_multipart_uploads(Bucket=settings.s3_bucket).get("Uploads", [])
    assert session["uploadId"] not in [u["UploadId"] for u in uploads]
    key = httpx.URL(session["parts"][0]["uploadUrl"]).path.split(f"/{settings.s3_bucket}/", 1)[1]
    assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key).get("KeyCount") == 0


def test_an_aborted_multipart_upload_is_gone_from_storage_and_cannot_be_completed(
    api: Api, video: bytes, s3, settings
):
    session = _session(api)
    parts = sorted(_put_parts(session, video, [1, 2]).items())

    aborted = api.http.post(f"/api/v1/media/{session['mediaId']}/abort")

    assert aborted.status_code == 200
    assert aborted.json()["status"] == "ABORTED"
    uploads = s3.list_multipart_uploads(Bucket=settings.s3_bucket).get("Uploads", [])
    assert session["uploadId"] not in [u["UploadId"] for u in uploads]
    reply = api.complete_multipart(session["mediaId"], session["uploadId"], parts)
    assert reply.status_code == 400
    assert (
        reply.json()["message"]
        == f"media {session['mediaId']} is ABORTED; only a PENDING upload can be completed"
    )
    assert api.parts(session["mediaId"]).status_code == 400


def test_the_single_and_multipart_completes_do_not_mix(api: Api):
    multipart = _session(api)
    single = api.create_session(b"\xff\xd8\xff" * 10).json()

    wrong_single = api.complete(multipart["mediaId"])
    wrong_multi = api.complete_multipart(single["mediaId"], "x", [(1, '"e"')])

    assert wrong_single.status_code == wrong_multi.status_code == 400
    assert (
        wrong_single.json()["message"]
        == f"media {multipart['mediaId']} is a multipart upload: finish it with complete-multipart"
    )
    assert (
        wrong_multi.json()["message"]
        == f"media {single['mediaId']} is a single upload: finish it with complete"
    )


def test_a_checksum_is_refused_for_multipart(api: Api):
    reply = api.create_session(
        b"",
        file_type="video/mp4",
        fileSize=SIZE,
        mediaType="post-video",
        checksumSha256="A" * 43 + "=",
    )

    assert reply.status_code == 400
    assert (
        reply.json()["message"]
        == "checksumSha256 is supported for single uploads only (up to 5242880 bytes)"
    )


def test_racing_multipart_completes_agree_and_queue_processing_once(api: Api, video: bytes, mesh):
    session = _session(api)
    parts = sorted(_put_parts(session, video).items())

    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(
            pool.map(
                lambda _: api.complete_multipart(session["mediaId"], session["uploadId"], parts),
                range(4),
            )
        )

    assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
    assert len({r.json()["cdnUrl"] for r in replies}) == 1
    assert times_queued(mesh, session["mediaId"]) == 1


def test_a_negative_part_marker_is_refused(api: Api):
    session = _session(api)

    reply = api.http.get(
        f"/api/v1/media/{session['mediaId']}/parts", params={"partNumberMarker": -1}
    )

    assert reply.status_code == 400
    assert reply.json()["message"] == "partNumberMarker must not be negative, got -1"
