"""The browser client end to end: the demo page in real Chromium, uploading
through grpc-web and straight to the S3 server, against the real mesh."""

import re
import threading
import time
from collections import Counter
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Error, FilePayload, Page, Request, Route, expect

from gateway.devkeys import mint_token
from gateway.processes import free_port
from harness import media_files
from harness.media_files import small_jpeg
from harness.rest import Api

MB = 1000 * 1000
PROCESSING = 90_000  # ms: a job on a busy CI machine
HTML = b"<!DOCTYPE html><html><body>not a photo</body></html>"
MEDIA_SERVICE = "/media.v1.MediaService/"
WATCH_MEDIA = re.compile(r"/media\.v1\.MediaService/WatchMedia$")


def _open(page: Page, settings, user: str, origin: str | None = None) -> None:
    base = origin or f"http://127.0.0.1:{settings.demo_port}/"
    page.goto(f"{base}#token={mint_token(settings, user)}")
    expect(page.get_by_test_id("status")).to_have_text("idle")


def _pick(page: Page, name: str, mime: str, data: bytes) -> None:
    page.set_input_files(
        "input[type=file]", files=[FilePayload(name=name, mimeType=mime, buffer=data)]
    )


def _part_number(request: Request) -> int | None:
    if request.method != "PUT":
        return None
    numbers = parse_qs(urlparse(request.url).query).get("partNumber")
    return int(numbers[0]) if numbers else None


class PartPuts:
    """The part PUTs the page sends: how many per part, and how many at once."""

    def __init__(self, page: Page) -> None:
        self.sent: Counter[int] = Counter()
        self.finished: Counter[int] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: Request) -> None:
        number = _part_number(request)
        if number is not None:
            with self._lock:
                self.sent[number] += 1
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _ended(self, request: Request) -> None:
        number = _part_number(request)
        if number is not None:
            with self._lock:
                self.finished[number] += 1
                self.in_flight -= 1


class MediaCalls:
    """The page's grpc-web calls to MediaService: how many of each method, and
    their content types."""

    def __init__(self, page: Page) -> None:
        self.count: Counter[str] = Counter()
        self.content_types: set[str] = set()
        page.on("request", self._sent)

    def _sent(self, request: Request) -> None:
        path = urlparse(request.url).path
        if request.method == "POST" and path.startswith(MEDIA_SERVICE):
            self.count[path.removeprefix(MEDIA_SERVICE)] += 1
            self.content_types.add(request.headers.get("content-type", ""))


def _errors_of(page: Page) -> list[Error]:
    """The page's uncaught errors (unhandled promise rejections among them), as they come."""
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    return errors


def _history(page: Page) -> list[str]:
    return page.get_by_test_id("status-history").locator("li").all_inner_texts()


def _wait(page: Page, condition, timeout: float = 30.0) -> None:
    """Poll `condition` while the page runs (Playwright delivers the page's
    events to Python only while Python waits on the page)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the page's part uploads"
        page.wait_for_timeout(50)


def _object_bytes(s3, settings, cdn_url: str) -> bytes:
    key = cdn_url.split(f"/{settings.s3_bucket}/", 1)[1]
    return s3.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()


def _only_media(api: Api) -> dict:
    media = api.http.get("/api/v1/media").json()["media"]
    assert len(media) == 1, media
    return media[0]


def test_a_photo_is_uploaded_processed_shown_and_posted(page: Page, settings, api: Api, user):
    _open(page, settings, user)
    photo = media_files.phone_photo(800, 600)

    _pick(page, "holiday.jpg", "image/jpeg", photo)

    expect(page.get_by_test_id("status")).to_have_text("READY", timeout=PROCESSING)
    expect(page.get_by_test_id("progress")).to_have_attribute("value", "100")
    expect(page.get_by_test_id("error")).to_have_text("")
    media = _only_media(api)
    expect(page.get_by_test_id("cdn-url")).to_have_attribute("href", media["cdnUrl"])
    page.wait_for_function(
        "() => document.querySelector('[data-testid=thumbnail]')?.naturalWidth > 0"
    )
    page.get_by_test_id("post-content").fill("from the browser")
    page.get_by_test_id("post-submit").click()
    expect(page.get_by_test_id("post-id")).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
    post_id = page.get_by_test_id("post-id").inner_text()
    post = api.http.get(f"/api/v1/posts/{post_id}").json()
    assert post["content"] == "from the browser"
    assert [m["mediaId"] for m in post["media"]] == [media["mediaId"]]


def test_a_12_mb_video_goes_up_in_parallel_parts_byte_for_byte(
    page: Page, settings, api: Api, user, s3, tmp_path
):
    video = media_files.padded_video(tmp_path, 12 * MB)
    puts = PartPuts(page)
    _open(page, settings, user)

    _pick(page, "clip.mp4", "video/mp4", video)

    expect(page.get_by_test_id("status")).to_have_text("READY", timeout=PROCESSING)
    assert dict(puts.sent) == {1: 1, 2: 1}
    assert puts.most_in_flight == 2, "both parts were in flight at once"
    media = _only_media(api)
    assert media["status"] == "READY"
    assert _object_bytes(s3, settings, media["cdnUrl"]) == video


def test_a_reload_mid_upload_resumes_with_only_the_missing_parts(
    page: Page, settings, api: Api, user, s3, tmp_path
):
    video = media_files.padded_video(tmp_path, 20 * MB)  # three parts of 8 MiB
    # A file on disk, as a person picks it: the same name, size and mtime each time.
    path = tmp_path / "long.mp4"
    path.write_bytes(video)
    puts = PartPuts(page)
    held = re.compile(r"partNumber=[23]\b")
    page.route(held, lambda route: None)  # parts 2 and 3 never get an answer
    _open(page, settings, user)
    page.set_input_files("input[type=file]", str(path))
    _wait(page, lambda: puts.finished[1] == 1 and puts.sent[2] == 1 and puts.sent[3] == 1)

    # When the page is reloaded mid-upload (which cancels the held PUTs; only
    # then are they let through) and the same file picked again
    page.reload()
    page.unroute(held)
    expect(page.get_by_test_id("status")).to_have_text("idle")
    page.set_input_files("input[type=file]", str(path))

    # Then only the missing parts are sent, and the upload completes
    expect(page.get_by_test_id("status")).to_have_text("READY", timeout=PROCESSING)
    assert dict(puts.sent) == {1: 1, 2: 2, 3: 2}
    media = _only_media(api)
    assert _object_bytes(s3, settings, media["cdnUrl"]) == video


def test_cancelling_mid_upload_aborts_it_and_leaves_nothing_in_storage(
    page: Page, settings, api: Api, user, s3, tmp_path
):
    puts = PartPuts(page)
    page.route(re.compile(r"partNumber=2\b"), lambda route: None)
    _open(page, settings, user)
    _pick(page, "long.mp4", "video/mp4", media_files.padded_video(tmp_path, 12 * MB))
    _wait(page, lambda: puts.finished[1] == 1 and puts.sent[2] == 1)

    page.get_by_test_id("abort").click()

    expect(page.get_by_test_id("status")).to_have_text("ABORTED")
    media = _only_media(api)
    assert media["status"] == "ABORTED"
    prefix = f"post-video/{user}/"
    assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix).get("KeyCount") == 0
    assert (
        s3.list_multipart_uploads(Bucket=settings.s3_bucket, Prefix=prefix).get("Uploads", []) == []
    )


def test_an_html_file_named_jpg_shows_the_servers_refusal(page: Page, settings, api: Api, user):
    calls = MediaCalls(page)
    errors = _errors_of(page)
    _open(page, settings, user)

    _pick(page, "cat.jpg", "image/jpeg", HTML)

    expect(page.get_by_test_id("error")).to_have_text(
        "upload rejected: content is HTML, not image/jpeg"
    )
    expect(page.get_by_test_id("status")).to_have_text("ERROR")
    assert _only_media(api)["status"] == "REJECTED"
    # the watch opened before completing was dropped quietly with the refusal
    assert calls.count["WatchMedia"] == 1
    assert calls.count["GetMedia"] == 0
    assert errors == []


def test_a_part_that_fails_twice_is_retried_and_the_upload_completes(
    page: Page, settings, api: Api, user, tmp_path
):
    failures = Counter[str]()

    def flaky(route: Route) -> None:
        if failures["part 1"] < 2:
            failures["part 1"] += 1
            route.fulfill(
                status=503,
                headers={
                    "access-control-allow-origin": "*",
                    "access-control-expose-headers": "ETag",
                },
                body="<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
            )
        else:
            route.continue_()

    puts = PartPuts(page)
    page.route(re.compile(r"partNumber=1\b"), flaky)
    _open(page, settings, user)

    _pick(page, "clip.mp4", "video/mp4", media_files.padded_video(tmp_path, 12 * MB))

    expect(page.get_by_test_id("status")).to_have_text("READY", timeout=PROCESSING)
    assert failures["part 1"] == 2
    assert puts.sent[1] == 3
    assert _only_media(api)["status"] == "READY"


def test_the_page_from_an_origin_not_allowed_cannot_call_the_gateway(
    page: Page, mesh, settings, api: Api, user
):
    stranger = mesh.start_demo("demo-stranger", free_port())
    try:
        _open(page, settings, user, origin=stranger)

        _pick(page, "photo.jpg", "image/jpeg", small_jpeg())

        expect(page.get_by_test_id("status")).to_have_text("ERROR")
        expect(page.get_by_test_id("error")).not_to_have_text("")
        assert api.http.get("/api/v1/media").json().get("media", []) == []
    finally:
        mesh.stop_component("demo-stranger")


def test_the_page_watches_the_upload_through_every_status_without_polling(
    page: Page, settings, api: Api, user
):
    calls = MediaCalls(page)
    errors = _errors_of(page)
    _open(page, settings, user)

    _pick(page, "photo.jpg", "image/jpeg", small_jpeg())

    expect(page.get_by_test_id("status")).to_have_text("READY", timeout=PROCESSING)
    expect(page.get_by_test_id("status-history").locator("li")).to_have_text(
        ["preparing", "uploading", "completing", "PENDING", "UPLOADED", "PROCESSING", "READY"]
    )
    assert calls.count["WatchMedia"] == 1
    assert calls.count["GetMedia"] == 0, "no polling while the stream works"
    assert calls.content_types == {"application/grpc-web+proto"}
    assert _only_media(api)["status"] == "READY"
    assert errors == []


def _unimplemented(route: Route) -> None:
    """WatchMedia as a server from before it answers: grpc-status 12, no messages."""
    route.fulfill(
        status=200,
        headers={
            "content-type": "application/grpc-web+proto",
            "grpc-status": "12",
            "grpc-message": "unimplemented",
            "access-control-allow-origin": "*",
            "access-control-expose-headers": "grpc-status, grpc-message",
        },
        body=b"",
    )


def _no_answer(route: Route) -> None:
    route.abort("connectionreset")


@pytest.mark.parametrize("refusal", [_unimplemented, _no_answer], ids=["unimplemented", "network"])
def test_when_the_media_cannot_be_watched_the_page_polls_it_to_ready(
    page: Page, settings, api: Api, user, refusal
):
    calls = MediaCalls(page)
    errors = _errors_of(page)
    page.route(WATCH_MEDIA, refusal)
    _open(page, settings, user)

    _pick(page, "photo.jpg", "image/jpeg", small_jpeg())

    expect(page.get_by_test_id("status")).to_have_text("READY", timeout=PROCESSING)
    assert calls.count["WatchMedia"] == 1, "a stream that cannot be opened is not retried"
    assert calls.count["GetMedia"] >= 1
    assert _history(page)[-1] == "READY"
    assert _only_media(api)["status"] == "READY"
    assert errors == []
