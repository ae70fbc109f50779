"""Errors that mean S3 (or the network to it) is unreachable for now: they heal by themselves.

A run that failed on one is queued again by beat (cases.ingest.services.ingest_runs_retry_due)
after a backoff that doubles with each attempt, up to the attempts cap.
"""

from __future__ import annotations

import errno
import socket
from datetime import timedelta

from botocore import exceptions as boto_errors
from django.conf import settings
from django.db import Error as DatabaseError
from urllib3 import exceptions as urllib3_errors

# S3's own words for "not now" (server errors and throttling), and their HTTP statuses.
TRANSIENT_S3_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "500",
        "502",
        "503",
        "504",
    }
)
UNREACHABLE = (
    boto_errors.ConnectionError,  # EndpointConnectionError, ConnectTimeout, ReadTimeout, ...
    boto_errors.HTTPClientError,
    boto_errors.ResponseStreamingError,
    boto_errors.IncompleteReadError,
    urllib3_errors.HTTPError,  # ProtocolError (connection reset mid-body), timeouts
    ConnectionError,
    TimeoutError,
    socket.timeout,
)


def s3_unreachable(exc: BaseException | None) -> bool:
    """Is exc, or what it was raised from (a reader wraps a broken stream), S3 out of reach?

    Database errors are not: they propagate for the task's own retries.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DatabaseError):
            return False
        if isinstance(exc, UNREACHABLE):
            return True
        if isinstance(exc, boto_errors.ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return str(error.get("Code", "")) in TRANSIENT_S3_CODES or status >= 500
        exc = exc.__cause__
    return False


def retry_delay(attempts_made: int) -> timedelta:
    """Backoff before beat tries a run again: the first delay, doubling per attempt, capped."""
    first = settings.FRAUDCASE_INGEST_RETRY_BACKOFF
    longest = settings.FRAUDCASE_INGEST_RETRY_BACKOFF_MAX
    return timedelta(seconds=min(longest, first * 2 ** max(0, attempts_made - 1)))


# PostgreSQL's SQLSTATE for a full disk (disk_full: a table, index or temp file could not grow).
DISK_FULL_SQLSTATE = "53100"


def disk_full(exc: BaseException | None) -> str | None:
    """Which disk is full, when exc (or what it was raised from) says one is: the database
    server's (SQLSTATE 53100) or this worker's (ENOSPC, EDQUOT); None otherwise.

    A full disk does not heal by retrying: the run fails with it at once, for an operator.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "sqlstate", None) == DISK_FULL_SQLSTATE:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "disk_full"
            return f"the database server's disk is full ({detail})"
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"this worker's disk is full ({exc})"
        exc = exc.__cause__ or exc.__context__
    return None
