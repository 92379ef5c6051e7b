"""Processing by the real dramatiq worker on RabbitMQ, outputs in the S3 server."""

import io
import re
import sys

import httpx
import pytest
from PIL import Image

from gateway import processes
from gateway.settings import ROOT
from harness import media_files
from harness.rest import Api, put
from harness.waiting import wait_for
from tests.support import pixel, storage_key

MIB = 1024 * 1024


def _upload(api: Api, data: bytes, file_type: str, media_type: str = "post-image") -> str:
    return api.upload(data, file_type, fileSize=len(data), mediaType=media_type, fileName="f")[
        "mediaId"
    ]


def _settled(api: Api, media_id: str, timeout: float = 60):
    def done():
        record = api.media(media_id).json()
        return record if record["status"] in ("READY", "FAILED") else None

    return wait_for(done, f"media {media_id} to be READY or FAILED", timeout)


def _assert_fit_for_users(reason: str) -> None:
    """failureReason is shown to users: no worker path, no exception class name."""
    assert "/tmp" not in reason and "media-" not in reason and "original" not in reason
    assert not re.search(r"\b[A-Z][a-z]+(Error|Exception)\b", reason), reason


def _image(url: str) -> Image.Image:
    reply = httpx.get(url, timeout=30)
    assert reply.status_code == 200
    image = Image.open(io.BytesIO(reply.content))
    image.load()
    return image


def test_a_phone_photo_gets_upright_webp_variants_without_metadata(api: Api):
    media_id = _upload(api, media_files.phone_photo(), "image/jpeg")

    record = _settled(api, media_id)

    assert record["status"] == "READY", record.get("failureReason")
    assert (record["width"], record["height"]) == (3000, 4000)  # upright
    assert len(record["blurhash"]) >= 6
    variants = {v["name"]: v for v in record["variants"]}
    assert {n: (v["width"], v["height"]) for n, v in variants.items()} == {
        "thumb": (240, 320),
        "large": (810, 1080),
    }
    for variant in variants.values():
        assert variant["contentType"] == "image/webp"
        image = _image(variant["url"])
        assert image.format == "WEBP"
        assert (image.width, image.height) == (variant["width"], variant["height"])
        assert not image.getexif(), "EXIF (GPS above all) must be stripped"
        assert not {"exif", "xmp", "icc_profile"} & set(image.info)
        top, bottom = (
            pixel(image.convert("RGB"), (image.width // 2, 5)),
            pixel(image.convert("RGB"), (image.width // 2, image.height - 5)),
        )
        assert top[0] > top[2] and bottom[2] > bottom[0], "red on top, blue below: turned upright"


def test_a_small_image_is_never_upscaled(api: Api):
    media_id = _upload(api, media_files.animated_gif(), "image/gif")

    record = _settled(api, media_id)

    assert record["status"] == "READY", record.get("failureReason")
    assert {(v["width"], v["height"]) for v in record["variants"]} == {(100, 60)}
    assert (
        pixel(_image(record["variants"][0]["url"]).convert("RGB"), (50, 30))[1] > 150
    )  # the first (green) frame


def test_a_heic_photo_is_processed(api: Api):
    media_id = _upload(api, media_files.heic_photo(), "image/heic")

    record = _settled(api, media_id)

    assert record["status"] == "READY", record.get("failureReason")
    assert (record["width"], record["height"]) == (640, 480)


def test_a_short_video_gets_duration_size_and_a_poster(api: Api, tmp_path):
    media_id = _upload(api, media_files.short_video(tmp_path), "video/mp4", "post-video")

    record = _settled(api, media_id)

    assert record["status"] == "READY", record.get("failureReason")
    assert abs(int(record["durationMs"]) - 2000) <= 100
    assert (record["width"], record["height"]) == (320, 240)
    assert record["codec"] == "h264"
    poster = _image(record["posterUrl"])
    assert (poster.format, poster.size) == ("WEBP", (320, 240))
    assert [v["name"] for v in record["variants"]] == ["poster", "video"]
    video = record["variants"][1]
    assert (video["width"], video["height"], video["contentType"]) == (320, 240, "video/mp4")
    assert abs(int(video["durationMs"]) - 2000) <= 100
    assert httpx.get(video["url"], timeout=30).status_code == 200


def test_a_truncated_jpeg_fails_with_a_reason(api: Api):
    media_id = _upload(api, media_files.truncated_jpeg(), "image/jpeg")

    record = _settled(api, media_id, timeout=20)

    assert record["status"] == "FAILED"
    assert record["failureReason"] == "the image cannot be decoded: the file is truncated"
    _assert_fit_for_users(record["failureReason"])


def test_an_image_pillow_cannot_identify_fails_in_words_without_paths(api: Api):
    data = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200  # a PNG signature, then nothing of a PNG

    record = _settled(api, _upload(api, data, "image/png"), timeout=20)

    assert record["status"] == "FAILED"
    assert record["failureReason"] == "the image cannot be decoded: it is not a valid PNG file"
    _assert_fit_for_users(record["failureReason"])


def test_a_decompression_bomb_fails_before_its_pixels_are_decoded(api: Api):
    media_id = _upload(api, media_files.decompression_bomb(), "image/png")

    record = _settled(api, media_id, timeout=20)

    assert record["status"] == "FAILED"
    assert (
        record["failureReason"]
        == "the image is 40000x40000 pixels, over the limit of 100000000 pixels"
    )


def test_a_video_ffprobe_cannot_read_fails_in_words_without_paths(api: Api):
    # The boxes of an MP4 (so it passes complete), but no movie in them.
    data = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x00mdat" + bytes(4000)

    record = _settled(api, _upload(api, data, "video/mp4", "post-video"), timeout=20)

    assert record["status"] == "FAILED"
    assert record["failureReason"] == "the video cannot be read: it is not a valid MP4 file"
    _assert_fit_for_users(record["failureReason"])


@pytest.mark.parametrize(
    "disguise, declared",
    [("ftyp-jp2", "video/mp4"), ("free", "video/mp4"), ("free", "video/quicktime")],
)
def test_a_dash_manifest_naming_a_file_on_the_worker_is_rejected_at_complete(
    api: Api, s3, settings, tmp_path, disguise, declared
):
    # A real video on this machine (where the worker runs), and a manifest whose
    # BaseURL names it, behind bytes that begin like an MP4 or QuickTime box.
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(media_files.short_video(tmp_path))
    data = media_files.disguised_dash_manifest(secret, disguise)
    session = api.create_session(data, declared, mediaType="post-video", fileName="clip").json()
    put(session, data)

    reply = api.complete(session["mediaId"])

    assert reply.status_code == 400, reply.text
    assert reply.json()["message"] == f"upload rejected: content is not {declared}"
    record = api.media(session["mediaId"]).json()
    assert record["status"] == "REJECTED"
    assert record["posterUrl"] == ""
    key = storage_key(session, settings.s3_bucket)
    assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key).get("KeyCount") == 0


def test_a_video_over_the_pixel_limit_fails_without_decoding_a_frame(api: Api, tmp_path):
    data = media_files.huge_mjpeg_mov(tmp_path)  # 16000x16000, one frame, 4.5 MB

    record = _settled(api, _upload(api, data, "video/quicktime", "post-video"), timeout=20)

    assert record["status"] == "FAILED"
    assert (
        record["failureReason"]
        == "the video is 16000x16000 pixels, over the limit of 35389440 pixels"
    )
    assert record["posterUrl"] == ""


def test_a_single_frame_video_gets_its_frame_as_the_poster(api: Api, tmp_path):
    data = media_files.short_video(tmp_path, frames=1)

    record = _settled(api, _upload(api, data, "video/mp4", "post-video"))

    assert record["status"] == "READY", record.get("failureReason")
    assert (record["width"], record["height"]) == (320, 240)
    poster = _image(record["posterUrl"])
    assert (poster.format, poster.size) == ("WEBP", (320, 240))


def test_a_worker_killed_mid_job_leaves_the_job_to_the_next_worker(api: Api, mesh, tmp_path):
    mesh.stop_component("worker")
    env = {**mesh.service_env(), "PROCESSING_FAULT": "crash-after-claimed"}
    doomed = processes.start(
        "doomed-worker", [sys.executable, "-m", "media_service.worker"], env, ROOT, tmp_path
    )
    try:
        media_id = _upload(api, media_files.phone_photo(800, 600), "image/jpeg")

        # the worker takes the job and dies in the middle of it
        wait_for(
            lambda: doomed.process.poll() is not None, "the doomed worker to crash", timeout=60
        )
        assert doomed.process.returncode == 70
        assert api.media(media_id).json()["status"] == "PROCESSING"
    finally:
        processes.stop(doomed)
        mesh.start_worker()

    record = _settled(api, media_id)
    assert record["status"] == "READY", record.get("failureReason")
    assert (record["width"], record["height"]) == (600, 800)


def test_a_worker_on_redis_processes_jobs_too(api: Api, mesh, settings, tmp_path):
    import uuid

    import psycopg2
    import redis

    from media_service.app import jobs_for
    from media_service.config import MediaConfig

    media_id = _upload(api, media_files.phone_photo(320, 200), "image/jpeg")
    assert _settled(api, media_id)["status"] == "READY"
    with psycopg2.connect(settings.database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "UPDATE media SET status = 'UPLOADED', width = NULL WHERE id = %s", (media_id,)
        )
    queue = f"media-processing-redis-{uuid.uuid4().hex[:8]}"
    env = {**mesh.service_env(), "BROKER_URL": REDIS_URL, "PROCESSING_QUEUE": queue}
    worker = processes.start(
        "redis-worker", [sys.executable, "-m", "media_service.worker"], env, ROOT, tmp_path
    )
    try:
        # Given a job queued on Redis
        jobs_for(MediaConfig.from_env(env)).enqueue_processing(media_id)

        # Then the Redis worker does it
        record = _settled_again(api, media_id)
        assert (record["width"], record["height"]) == (200, 320)  # upright
    finally:
        processes.stop(worker)
        redis.Redis.from_url(REDIS_URL).delete(
            *[
                f"dramatiq:{queue}{s}"
                for s in ("", ".DQ", ".XQ", ".msgs", ".DQ.msgs", ".XQ.msgs", ".acks")
            ]
        )


REDIS_URL = "redis://127.0.0.1:6379/0"


def _settled_again(api: Api, media_id: str):
    def ready():
        record = api.media(media_id).json()
        return record if record["status"] == "READY" and record["width"] else None

    return wait_for(ready, "the Redis worker to finish the job", 60)


def test_completing_a_failed_media_again_returns_it_as_it_is(api: Api):
    media_id = _upload(api, media_files.truncated_jpeg(), "image/jpeg")
    assert _settled(api, media_id, timeout=20)["status"] == "FAILED"

    reply = api.complete(media_id)

    assert reply.status_code == 200
    assert reply.json()["status"] == "FAILED"
