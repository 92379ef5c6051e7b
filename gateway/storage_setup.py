"""The bucket of the embedded S3 server: CORS for browsers, public reads for the CDN.

In production the bucket and its public (CDN) domain are set up once by
operations; locally the bucket itself plays the CDN, so its objects are
readable without credentials, as they would be through CDN_BASE_URL: those of
each media type, never those under `private/` (private media, read through
presigned GETs only). moto enforces no policy; the README's Production
section gives the rule R2 enforces.
"""

import json

import boto3
from botocore.config import Config

from gateway.settings import Settings
from media_formats.media_types import MEDIA_TYPES


def s3_client(settings: Settings):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=settings.storage_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def ensure_bucket(settings: Settings) -> None:
    client = s3_client(settings)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if settings.s3_bucket not in existing:
        client.create_bucket(Bucket=settings.s3_bucket)
    client.put_bucket_cors(
        Bucket=settings.s3_bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": settings.cors_origins,
                    "AllowedMethods": ["PUT", "GET", "HEAD"],
                    # What a presigned PUT binds; the README gives the same rule
                    # for a production bucket.
                    "AllowedHeaders": ["content-type", "if-none-match", "x-amz-checksum-sha256"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                # Public keys start with their media type; private ones with private/.
                "Resource": [f"arn:aws:s3:::{settings.s3_bucket}/{name}/*" for name in MEDIA_TYPES],
            }
        ],
    }
    client.put_bucket_policy(Bucket=settings.s3_bucket, Policy=json.dumps(public_read))
