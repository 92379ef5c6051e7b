"""Object storage through boto3: presigned uploads, HEAD, ranged reads, deletes.

Works against any S3 API (R2, S3, MinIO, moto). An outage of storage is
translated here into `Unavailable`; nothing else in the service imports boto.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from media_service.config import StorageConfig
from mesh.errors import Unavailable

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    headers: dict[str, str]  # the client must send exactly these


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str
    etag: str


class Storage:
    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self._client = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=3,
                read_timeout=10,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    @property
    def bucket(self) -> str:
        return self._config.bucket

    def presign_put(
        self, key: str, content_type: str, size: int, checksum_sha256: str | None = None
    ) -> PresignedUpload:
        """A create-only PUT whose signature binds type, length and (if given) checksum."""
        params: dict[str, object] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": size,
            "IfNoneMatch": "*",
        }
        headers = {"Content-Type": content_type, "If-None-Match": "*"}
        if checksum_sha256:
            params["ChecksumSHA256"] = checksum_sha256
            headers["x-amz-checksum-sha256"] = checksum_sha256
        url = self._client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=self._config.presign_ttl_seconds
        )
        return PresignedUpload(url=url, headers=headers)

    def head(self, key: str) -> StoredObject | None:
        """The stored object's metadata, or None if nothing was uploaded."""
        try:
            with _outage_is_unavailable():
                reply = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                return None
            raise
        return StoredObject(
            size=int(reply["ContentLength"]),
            content_type=reply.get("ContentType", ""),
            etag=reply["ETag"],
        )

    def delete(self, key: str) -> None:
        with _outage_is_unavailable():
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def public_url(self, key: str) -> str:
        return f"{self._config.cdn_base_url}/{key}"


@contextmanager
def _outage_is_unavailable() -> Iterator[None]:
    try:
        yield
    except BotoCoreError as error:
        raise Unavailable(f"object storage is unavailable: {type(error).__name__}") from error
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500:
            raise Unavailable(f"object storage is unavailable: HTTP {status}") from error
        raise
