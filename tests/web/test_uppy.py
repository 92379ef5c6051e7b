"""Apps already on Uppy: `@uppy/aws-s3` 5.x with the library's adapter, in
real Chromium, single and multipart, verified by the server like any upload."""

import json

from playwright.sync_api import FilePayload, Page, expect

from gateway.devkeys import mint_token
from harness import media_files
from harness.media_files import small_jpeg
from harness.rest import Api

MB = 1000 * 1000


def test_uppy_uploads_through_the_api_single_and_multipart(
    page: Page, settings, api: Api, user, s3, tmp_path
):
    photo, video = small_jpeg(), media_files.padded_video(tmp_path, 6 * MB)
    page.goto(f"http://127.0.0.1:{settings.demo_port}/uppy.html#token={mint_token(settings, user)}")

    page.get_by_test_id("uppy-file").set_input_files(
        files=[
            FilePayload(name="photo.jpg", mimeType="image/jpeg", buffer=photo),
            FilePayload(name="clip.mp4", mimeType="video/mp4", buffer=video),
        ]
    )

    result = page.get_by_test_id("uppy-result")
    expect(result).not_to_have_text("", timeout=60_000)
    files = {f["name"]: f for f in json.loads(result.inner_text())}
    assert {name: (f["done"], f["error"]) for name, f in files.items()} == {
        "photo.jpg": (True, ""),
        "clip.mp4": (True, ""),
    }
    for name, data in (("photo.jpg", photo), ("clip.mp4", video)):
        media = api.media(files[name]["mediaId"]).json()
        assert media["status"] in ("UPLOADED", "PROCESSING", "READY"), media
        key = media["cdnUrl"].split(f"/{settings.s3_bucket}/", 1)[1]
        assert s3.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read() == data


def test_uppy_shows_the_servers_refusal(page: Page, settings, user):
    page.goto(f"http://127.0.0.1:{settings.demo_port}/uppy.html#token={mint_token(settings, user)}")

    page.get_by_test_id("uppy-file").set_input_files(
        files=[
            FilePayload(name="cat.jpg", mimeType="image/jpeg", buffer=b"<html>not a photo</html>")
        ]
    )

    result = page.get_by_test_id("uppy-result")
    expect(result).not_to_have_text("", timeout=60_000)
    [outcome] = json.loads(result.inner_text())
    assert outcome["error"] == "upload rejected: content is HTML, not image/jpeg"
