"""Webhook signatures: what FraudCase sends and what a receiver checks.

    X-FraudCase-Timestamp: <unix seconds>
    X-FraudCase-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>

verify() is for receivers (and the tests): a bad signature or a timestamp outside the replay
window is refused. Depends on the standard library only, so a receiver can copy this file.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-FraudCase-Timestamp"
SIGNATURE_HEADER = "X-FraudCase-Signature"
EVENT_ID_HEADER = "X-FraudCase-Event-Id"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request is not a genuine, fresh FraudCase delivery."""


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-FraudCase-Signature value for this body sent at this time."""
    message = str(int(timestamp)).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    raise SignatureError(f"missing {name} header")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a delivery's signature and age; returns its timestamp or raises SignatureError.

    body must be the raw bytes received (before any JSON parsing). The signature header may
    carry several comma-separated values (secret rotation): one matching is enough.
    """
    raw_timestamp = _header(headers, TIMESTAMP_HEADER).strip()
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SignatureError("the timestamp is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"the timestamp is more than {tolerance} s away from now (replay?)")
    expected = sign(secret, timestamp, body)
    offered = [part.strip() for part in _header(headers, SIGNATURE_HEADER).split(",")]
    # compare_digest on every candidate: the time taken says nothing about the expected value.
    matches = [hmac.compare_digest(expected.encode(), part.encode()) for part in offered]
    if not any(matches):
        raise SignatureError("the signature does not match the body")
    return timestamp
