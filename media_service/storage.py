"""Object storage through boto3: presigned uploads and reads, HEAD, ranged reads, deletes.

Works against any S3 API (R2, S3, MinIO, moto). An outage of storage is
translated here into `Unavailable`; nothing else in the service imports boto.
"""

import base64
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from media_service.config import StorageConfig
from media_service.presign import Presigner
from media_service.reasons import MediaReason
from mesh.errors import Unavailable

log = logging.getLogger(__name__)

STORAGE_UNAVAILABLE = "object storage is unavailable; try again shortly"
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_CHANGED_CODES = {"PreconditionFailed", "412"}
_MISCONFIGURED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "AllAccessDisabled",
}


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    headers: dict[str, str]  # the client must send exactly these


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str
    etag: str
    checksum_sha256: str  # "" when the object was stored without one


@dataclass(frozen=True)
class StoredPart:
    number: int
    size: int
    etag: str
    checksum_sha256: str | None = None  # what storage computed, if the upload asked for it


class OriginalChanged(Exception):
    """The stored original is no longer the version verified at complete."""


class MultipartRefused(Exception):
    """Storage refused to assemble the parts; `code` is its error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Storage:
    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self._presigner = Presigner(config)
        self._client = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                # Two tries of at most 2 + 5 s stay inside the gateway's 15 s.
                connect_timeout=2,
                read_timeout=5,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    @property
    def bucket(self) -> str:
        return self._config.bucket

    @property
    def url_lifetime_seconds(self) -> int:
        return self._config.presign_ttl_seconds

    def presign_put(
        self, key: str, content_type: str, size: int, checksum_sha256: str | None = None
    ) -> PresignedUpload:
        """A create-only PUT whose signature binds type, length and (if given) checksum."""
        headers = {"Content-Type": content_type, "If-None-Match": "*"}
        if checksum_sha256:
            headers["x-amz-checksum-sha256"] = checksum_sha256
        url = self._presigner.put(key, {**headers, "Content-Length": str(size)})
        return PresignedUpload(url=url, headers=headers)

    def presign_get(self, key: str) -> str:
        """A GET of `key` that lasts PRIVATE_URL_TTL_SECONDS: how a private media's
        files are read, the CDN serving none of them."""
        return self._presigner.get(key)

    def check_reachable(self) -> None:
        """Raises unless the bucket answers (the health check's question)."""
        self._client.head_bucket(Bucket=self.bucket)

    def head(self, key: str) -> StoredObject | None:
        """The stored object's metadata, or None if nothing was uploaded."""
        try:
            with _outage_is_unavailable():
                reply = self._client.head_object(
                    Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
                )
        except ClientError as error:
            if _error_code(error) in _NOT_FOUND_CODES:
                return None
            raise
        return StoredObject(
            size=int(reply["ContentLength"]),
            content_type=reply.get("ContentType", ""),
            etag=reply["ETag"],
            checksum_sha256=reply.get("ChecksumSHA256", ""),
        )

    def read_head(self, key: str, etag: str, length: int) -> bytes:
        """The first `length` bytes of exactly the version with `etag`."""
        with _outage_is_unavailable(), _pinned():
            reply = self._client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}", IfMatch=etag
            )
            return bytes(reply["Body"].read())

    def sha256_base64(self, key: str, etag: str) -> str:
        """SHA-256 of exactly the version with `etag`, streamed (for small objects)."""
        digest = hashlib.sha256()
        with _outage_is_unavailable(), _pinned():
            body = self._client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"]
            for chunk in body.iter_chunks(chunk_size=256 * 1024):
                digest.update(chunk)
        return base64.b64encode(digest.digest()).decode()

    def download(self, key: str, etag: str, path: Path) -> None:
        """Stream exactly the version with `etag` into `path` (never all in memory).
        OriginalChanged if the object is another version now, or gone."""
        with _outage_is_unavailable(), _pinned():
            body = self._client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"]
            with path.open("wb") as file:
                for chunk in body.iter_chunks(chunk_size=1024 * 1024):
                    file.write(chunk)

    def upload_file(self, key: str, path: Path, content_type: str) -> None:
        with _outage_is_unavailable(), path.open("rb") as file:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=file, ContentType=content_type
            )

    def remove(self, key: str, upload_id: str | None = None) -> None:
        """Everything of one media: its open multipart upload, the original, and
        all that was written beside it. Idempotent."""
        if upload_id:
            self.abort_multipart(key, upload_id)
        self.delete_derivatives(key)
        self.delete(key)

    def delete_derivatives(self, key: str) -> None:
        """What processing wrote beside the original, under `derived_prefix(key)`."""
        with _outage_is_unavailable():
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=derived_prefix(key)
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )

    def create_multipart(self, key: str, content_type: str, checksummed: bool = False) -> str:
        """`checksummed`: storage checks each part against its SHA-256 and records it."""
        extra = {"ChecksumAlgorithm": "SHA256"} if checksummed else {}
        with _outage_is_unavailable():
            reply = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type, **extra
            )
        return str(reply["UploadId"])

    def presign_part(
        self, key: str, upload_id: str, number: int, size: int, checksum_sha256: str | None = None
    ) -> str:
        """A PUT for one part whose signature binds its number, exact length and,
        if given, its SHA-256 (sent as `x-amz-checksum-sha256`)."""
        query = {"uploadId": upload_id, "partNumber": str(number)}
        headers = {"Content-Length": str(size)}
        if checksum_sha256:
            headers["x-amz-checksum-sha256"] = checksum_sha256
        return self._presigner.put(key, headers, query)

    def list_parts(self, key: str, upload_id: str) -> list[StoredPart] | None:
        """The parts stored so far, or None if the upload is not open (any more)."""
        parts: list[StoredPart] = []
        marker = 0
        while True:
            try:
                with _outage_is_unavailable():
                    reply = self._client.list_parts(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                    )
            except ClientError as error:
                if _error_code(error) == "NoSuchUpload":
                    return None
                raise
            parts += [
                StoredPart(p["PartNumber"], p["Size"], p["ETag"], p.get("ChecksumSHA256"))
                for p in reply.get("Parts", [])
            ]
            if not reply.get("IsTruncated"):
                return parts
            marker = int(reply["NextPartNumberMarker"])

    def complete_multipart(
        self,
        key: str,
        upload_id: str,
        parts: list[tuple[int, str]],
        checksums: Sequence[str] = (),
    ) -> None:
        """Assemble the parts (`checksums`: each part's SHA-256, for an upload
        made checksummed); MultipartRefused says why storage would not."""
        listed: list[dict[str, Any]] = [{"PartNumber": n, "ETag": e} for n, e in parts]
        for part in listed if checksums else []:
            part["ChecksumSHA256"] = checksums[part["PartNumber"] - 1]
        try:
            with _outage_is_unavailable():
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": listed},
                )
        except ClientError as error:
            raise MultipartRefused(_error_code(error), str(error)) from error

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            with _outage_is_unavailable():
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if _error_code(error) != "NoSuchUpload":
                raise

    def delete(self, key: str) -> None:
        with _outage_is_unavailable():
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def public_url(self, key: str) -> str:
        return f"{self._config.cdn_base_url}/{key}"


def derived_prefix(key: str) -> str:
    """Where outputs made from `key` live: `a/b/123-id.jpg` → `a/b/123-id/`."""
    stem, _, _ = key.rpartition(".")
    return f"{stem or key}/"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def _pinned() -> Iterator[None]:
    """A read pinned to an ETag finds another version, or none: OriginalChanged."""
    try:
        yield
    except ClientError as error:
        if _error_code(error) in _CHANGED_CODES | _NOT_FOUND_CODES:
            raise OriginalChanged(
                f"the original is not the verified version ({_error_code(error)})"
            ) from error
        raise


def _unavailable() -> Unavailable:
    return Unavailable(STORAGE_UNAVAILABLE, reason=MediaReason.STORAGE_UNAVAILABLE)


@contextmanager
def _outage_is_unavailable() -> Iterator[None]:
    """Storage failures that are not the request's: 503 in plain words; the
    technical cause goes to the log (see mesh.middleware.map_errors)."""
    try:
        yield
    except BotoCoreError as error:
        raise _unavailable() from error
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500:
            raise _unavailable() from error
        if _error_code(error) in _MISCONFIGURED:
            # Our credentials or bucket are wrong: no client can fix that, and it is
            # not their error. Operators see it in the log; callers get 503.
            log.error("object storage refuses us: %s", _error_code(error))
            raise _unavailable() from error
        raise
