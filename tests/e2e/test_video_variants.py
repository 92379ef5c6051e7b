"""Videos through the real worker: each READY video gets a `video` variant, an
MP4 every browser plays, and its progress shows in GetMedia and WatchMedia."""

from pathlib import Path
from typing import Any

import httpx

from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2
from harness import media_files
from harness.rest import Api, put_part
from tests.support import Watching, assert_plays_everywhere


def _upload_watched(api: Api, settings, user: str, path: Path, file_type: str) -> Watching:
    """A multipart upload of `path`, watched from before it is completed."""
    data = path.read_bytes()
    reply = api.create_session(data, file_type, fileName=path.name, mediaType="post-video")
    assert reply.status_code == 200, reply.text
    session = reply.json()
    watching = Watching(
        f"127.0.0.1:{settings.gateway_port}", mint_token(settings, user), [session["mediaId"]]
    )
    watching.wait_first()
    size = int(session["partSize"])
    etags = [
        (part["partNumber"], put_part(part["uploadUrl"], data[i * size : (i + 1) * size]))
        for i, part in enumerate(session["parts"])
    ]
    completed = api.complete_multipart(session["mediaId"], session["uploadId"], etags)
    assert completed.status_code == 200, completed.text
    return watching


def _video_variant(record: dict[str, Any]) -> dict[str, Any]:
    [variant] = [v for v in record["variants"] if v["name"] == "video"]
    return variant


def _download(url: str, directory: Path) -> Path:
    reply = httpx.get(url, timeout=60)
    assert reply.status_code == 200
    path = directory / "variant.mp4"
    path.write_bytes(reply.content)
    return path


def test_a_1080p_clip_gets_a_720p_mp4_and_its_progress_is_watched(api, settings, user, tmp_path):
    clip = media_files.camera_video(tmp_path, seconds=10, size="1920x1080")
    assert clip.stat().st_size > 5 * 1024 * 1024  # a multipart upload

    watching = _upload_watched(api, settings, user, clip, "video/mp4")

    watching.wait_end(timeout=120)
    assert watching.error is None, watching.error
    media = [e.media for e in watching.events if not e.keep_alive]
    assert media[-1].status == media_pb2.READY, media[-1].failure_reason
    progress = [m.processing_progress for m in media if m.status == media_pb2.PROCESSING]
    assert progress == sorted(progress) and any(0 < p < 100 for p in progress), progress
    assert media[-1].processing_progress == 100

    record = api.media(media[-1].media_id).json()
    variant = _video_variant(record)
    assert (variant["width"], variant["height"], variant["contentType"]) == (1280, 720, "video/mp4")
    assert abs(int(variant["durationMs"]) - 10_000) < 200
    # beside the original: {key without extension}/720p.mp4
    assert variant["url"] == f"{record['cdnUrl'].rsplit('.', 1)[0]}/720p.mp4"
    assert_plays_everywhere(_download(variant["url"], tmp_path), (1280, 720), 10)
    assert record["processingProgress"] == 100


def test_a_rotated_phone_clip_gets_an_upright_mp4(api, settings, user, tmp_path):
    clip = media_files.camera_video(
        tmp_path, seconds=3, size="1280x720", codec="libx265", suffix=".mov", rotation=90
    )
    data = clip.read_bytes()
    media_id = api.upload(
        data, "video/quicktime", fileSize=len(data), mediaType="post-video", fileName="phone.mov"
    )["mediaId"]
    watching = Watching(
        f"127.0.0.1:{settings.gateway_port}", mint_token(settings, user), [media_id]
    )

    watching.wait_end(timeout=120)
    record = api.media(media_id).json()
    assert record["status"] == "READY", record.get("failureReason")
    assert (record["width"], record["height"]) == (720, 1280)
    variant = _video_variant(record)
    assert (variant["width"], variant["height"]) == (720, 1280)
    assert_plays_everywhere(_download(variant["url"], tmp_path), (720, 1280), 3)
