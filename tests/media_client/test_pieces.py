"""The client's pure pieces: the part layout, the retry rules, the local file
check and the resume records."""

import io
import json
import os
import time
from pathlib import Path

import pytest

from harness.media_files import fake_mp4, small_jpeg
from media_client.api import channel_for
from media_client.errors import FileRefused, MediaClientError
from media_client.files import LocalFile, Source, inspect
from media_client.parts import plan_parts
from media_client.resume import ResumeStore
from media_client.transfer import MAX_DELAY_SECONDS, Range, backoff_delay, is_retryable

MIB = 1024 * 1024


def test_parts_are_the_servers_layout_the_last_one_the_remainder():
    assert plan_parts(20 * MIB, 8 * MIB, 3) == [
        Range(0, 8 * MIB),
        Range(8 * MIB, 8 * MIB),
        Range(16 * MIB, 4 * MIB),
    ]


@pytest.mark.parametrize(
    ("size", "part_size", "parts", "problem"),
    [
        (20 * MIB, 8 * MIB, 2, "does not cover"),
        (20 * MIB, 8 * MIB, 4, "does not fit"),
        (20 * MIB, 0, 3, "does not fit"),
    ],
)
def test_a_layout_that_does_not_match_the_file_is_refused(size, part_size, parts, problem):
    with pytest.raises(MediaClientError, match=problem):
        plan_parts(size, part_size, parts)


def test_backoff_grows_to_a_cap_with_jitter_between_half_and_all_of_it():
    assert backoff_delay(1, lambda: 0.0) == 0.25
    assert backoff_delay(1, lambda: 1.0) == 0.5
    assert backoff_delay(3, lambda: 1.0) == 2.0
    assert backoff_delay(10, lambda: 1.0) == MAX_DELAY_SECONDS


@pytest.mark.parametrize(
    ("status", "retry"),
    [(0, True), (403, True), (408, True), (429, True), (500, True), (503, True),
     (400, False), (404, False), (412, False)],
)  # fmt: skip
def test_only_answers_that_may_change_are_retried(status, retry):
    assert is_retryable(status) is retry


def test_the_media_type_defaults_by_content(tmp_path):
    photo, clip = tmp_path / "a.bin", tmp_path / "b.bin"
    photo.write_bytes(small_jpeg(4096))
    clip.write_bytes(fake_mp4(4096))
    assert inspect(Source(photo)).media_type == "post-image"
    assert inspect(Source(clip)).media_type == "post-video"
    assert inspect(Source(clip)).file_type == "video/mp4"


def test_content_a_media_type_does_not_take_is_refused(tmp_path):
    gif = tmp_path / "me.gif"
    gif.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(FileRefused) as refused:
        inspect(Source(gif), "avatar")
    assert str(refused.value) == (
        f"{gif}: content is image/gif, which avatar does not take (image/jpeg, image/png, image/webp)"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "the file is empty"), (b"plain text", "content is not recognised")],
)
def test_empty_and_unknown_files_are_refused(tmp_path, content, message):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(FileRefused, match=message):
        inspect(Source(path))


def test_an_unknown_media_type_and_a_missing_file_are_refused(tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(small_jpeg(4096))
    with pytest.raises(FileRefused, match="unknown media type 'banner': one of post-image"):
        inspect(Source(photo), "banner")
    with pytest.raises(FileRefused, match="No such file or directory"):
        Source(tmp_path / "gone.jpg")
    with pytest.raises(FileRefused, match="is a directory"):
        Source(tmp_path)


def test_a_file_object_is_read_at_any_offset():
    source = Source(io.BytesIO(b"0123456789"))
    assert (source.size, source.read_at(3, 4), source.read_at(8, 10)) == (10, b"3456", b"89")


def _saved_clip(tmp_path: Path) -> tuple[ResumeStore, Path, LocalFile]:
    """A store holding media-1 as the saved upload of a clip: (store, its path, the clip)."""
    store = ResumeStore(tmp_path / "state")
    path = tmp_path / "clip.mp4"
    path.write_bytes(fake_mp4(4096))
    local = inspect(Source(path))
    store.save(local, "media-1")
    return store, path, local


def test_a_saved_upload_is_found_for_the_same_file_only(tmp_path):
    store, path, local = _saved_clip(tmp_path)
    assert store.find(inspect(Source(path))) == "media-1"
    assert store.find(inspect(Source(path), "post-video")) == "media-1"

    # touched since: another upload
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert store.find(inspect(Source(path))) is None

    store.forget(local)
    assert store.find(local) is None


def test_a_saved_public_upload_is_not_resumed_as_a_private_one(tmp_path):
    store, _, local = _saved_clip(tmp_path)

    assert store.find(local, private=True) is None
    store.save(local, "media-2", private=True)
    assert (store.find(local), store.find(local, private=True)) == ("media-1", "media-2")


def test_an_old_or_unreadable_record_is_ignored(tmp_path):
    store, _, local = _saved_clip(tmp_path)
    (record,) = store.directory.iterdir()
    record.write_text(json.dumps({"mediaId": "media-1", "savedAt": time.time() - 24 * 3600}))
    assert store.find(local) is None
    record.write_text("{not json")
    assert store.find(local) is None


@pytest.mark.parametrize("target", ["ftp://gateway:21", "http://", ""])
def test_a_target_that_is_neither_a_gateway_url_nor_host_port_is_refused(target):
    with pytest.raises(ValueError):
        channel_for(target)
