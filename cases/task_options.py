"""Celery options shared by the project's tasks."""

from __future__ import annotations

from botocore import exceptions as boto_errors
from django.db import InterfaceError, OperationalError

# Network, S3 and database hiccups heal; a file-level problem fails its run inside the service,
# and configuration errors (no credentials, bad data) fail at once instead of retrying.
RETRYABLE = (
    boto_errors.ConnectionError,
    boto_errors.HTTPClientError,
    boto_errors.ClientError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


def recomputable(*, soft_seconds: int, max_retries: int = 3) -> dict:
    """Options of a task whose result can be recomputed from the database at any time:
    retried on database hiccups, redone when a worker dies mid-way (acks late), and bounded
    in time (a soft limit, then a hard one shortly after)."""
    return {
        "acks_late": True,
        "autoretry_for": (OperationalError, InterfaceError),
        "retry_backoff": 5,
        "max_retries": max_retries,
        "soft_time_limit": soft_seconds,
        "time_limit": soft_seconds + 100,
    }
