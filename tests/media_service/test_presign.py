"""The presigned URLs are exactly botocore's own."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.config import Config

from media_service.config import StorageConfig
from media_service.storage import Storage
from tests.support import STORAGE_CONFIG as CONFIG

NOW = datetime(2026, 1, 2, 3, 4, 5)


def _at_the_same_time():
    """Both signers read the same instant."""
    return mock.patch.multiple(
        "media_service.presign", current_time=mock.Mock(return_value=NOW.replace(tzinfo=UTC))
    ), mock.patch("botocore.auth.get_current_datetime", return_value=NOW)


def _botocore(config: StorageConfig = CONFIG):
    return boto3.client(
        "s3",
        endpoint_url=config.endpoint_url,
        aws_access_key_id=CONFIG.access_key_id,
        aws_secret_access_key=CONFIG.secret_access_key,
        region_name=CONFIG.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def _parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}{split.path}", dict(parse_qsl(split.query))


@pytest.mark.parametrize("checksum", [None, "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="])
def test_a_single_put_url_is_botocores(checksum):
    params: dict[str, Any] = {
        "Bucket": "media",
        "Key": "post-image/user_1/1763446881194-3f2a.jpg",
        "ContentType": "image/jpeg",
        "ContentLength": 123456,
        "IfNoneMatch": "*",
    }
    if checksum:
        params["ChecksumSHA256"] = checksum

    ours_at, theirs_at = _at_the_same_time()
    with ours_at, theirs_at:
        ours = Storage(CONFIG).presign_put(params["Key"], "image/jpeg", 123456, checksum)
        theirs = _botocore().generate_presigned_url("put_object", Params=params, ExpiresIn=900)

    assert _parts(ours.url) == _parts(theirs)


def test_an_https_endpoint_on_its_default_port_signs_the_same():
    r2 = replace(CONFIG, endpoint_url="https://0123abcd.r2.cloudflarestorage.com")
    params: dict[str, Any] = {"Bucket": "media", "Key": "avatar/u~1/1-x.webp", "ContentType": "image/webp",
              "ContentLength": 9, "IfNoneMatch": "*"}  # fmt: skip

    ours_at, theirs_at = _at_the_same_time()
    with ours_at, theirs_at:
        ours = Storage(r2).presign_put(params["Key"], "image/webp", 9)
        theirs = _botocore(r2).generate_presigned_url("put_object", Params=params, ExpiresIn=900)

    assert _parts(ours.url) == _parts(theirs)


def test_a_part_url_is_botocores():
    params: dict[str, Any] = {
        "Bucket": "media",
        "Key": "post-video/user_1/1763446881194-3f2a.mp4",
        "UploadId": "2~aB/c+d=e",
        "PartNumber": 7,
        "ContentLength": 8388608,
    }

    ours_at, theirs_at = _at_the_same_time()
    with ours_at, theirs_at:
        ours = Storage(CONFIG).presign_part(params["Key"], "2~aB/c+d=e", 7, 8388608)
        theirs = _botocore().generate_presigned_url("upload_part", Params=params, ExpiresIn=900)

    assert _parts(ours) == _parts(theirs)


@pytest.mark.parametrize(
    "key",
    ["private/post-image/user_1/1763446881194-3f2a.jpg", "private/avatar/u~1 x/1-y/thumb.webp"],
)
def test_a_get_url_is_botocores(key):
    ours_at, theirs_at = _at_the_same_time()
    with ours_at, theirs_at:
        ours = Storage(CONFIG).presign_get(key)
        theirs = _botocore().generate_presigned_url(
            "get_object", Params={"Bucket": "media", "Key": key}, ExpiresIn=600
        )

    assert _parts(ours) == _parts(theirs)
    assert _parts(ours)[1]["X-Amz-Expires"] == "600"  # PRIVATE_URL_TTL_SECONDS, not the PUTs'
