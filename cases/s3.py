"""boto3 access to the configured S3 endpoint (embedded moto server, MinIO or AWS)."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings


class BadS3Uri(ValueError):
    pass


def s3_client(*, interactive: bool = False):
    """A client of the configured endpoint. interactive: for a request someone waits on (an
    upload), fewer retries and a shorter connect timeout, so an outage is told in seconds."""
    return boto3.client(
        "s3",
        endpoint_url=settings.FRAUDCASE_S3_ENDPOINT_URL,
        region_name=settings.FRAUDCASE_S3_REGION,
        aws_access_key_id=settings.FRAUDCASE_S3_ACCESS_KEY_ID,
        aws_secret_access_key=settings.FRAUDCASE_S3_SECRET_ACCESS_KEY,
        config=Config(
            retries={"max_attempts": 2 if interactive else 5, "mode": "standard"},
            s3={"addressing_style": "path"},  # MinIO and moto serve buckets on the path
            connect_timeout=3 if interactive else 10,
            read_timeout=120,
        ),
    )


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split s3://bucket/prefix into (bucket, prefix); the prefix may be empty."""
    if not uri.startswith("s3://"):
        raise BadS3Uri(f"{uri!r} is not an S3 URI: expected s3://bucket/prefix")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise BadS3Uri(f"{uri!r} names no bucket: expected s3://bucket/prefix")
    return bucket, prefix


def ensure_bucket(client, bucket: str) -> None:
    """Create the bucket unless it exists (idempotent)."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        client.create_bucket(Bucket=bucket)
