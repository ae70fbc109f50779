"""The inbox scan's listing: only what is new, with a full rescan now and then.

Each inbox prefix (flagged/, curation/, shadow/) of a bucket has an InboxCursor: the last key a scan
listed. S3 lists keys in lexical (UTF-8 byte) order, so the next scan asks only for keys after
it (StartAfter): a minute's scan lists the minute's new objects, not every object ever
uploaded. What StartAfter cannot see, a key that sorts before the cursor (uploaded late under
an earlier name, or a new version written over a key already seen), is found by a full listing
every FRAUDCASE_INBOX_FULL_RESCAN_SECONDS (0: every scan lists everything). Registration is
idempotent on (bucket, key, ETag), so listing a key twice never ingests it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from cases.clock import database_now
from cases.ingest.models import InboxCursor

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PrefixListing:
    """One prefix's share of a scan: where it started, whether in full, what it saw."""

    bucket: str
    prefix: str
    start_after: str
    full: bool
    started_at: object  # the database's now() when the listing began
    keys_listed: int = 0
    last_key: str = ""
    registered: list[int] = field(default_factory=list)


def listing_start(bucket: str, prefix: str, *, full: bool = False) -> PrefixListing:
    """Where this scan of (bucket, prefix) starts: after the cursor, or from the beginning
    (full) when asked or when no scan listed the prefix in full within
    FRAUDCASE_INBOX_FULL_RESCAN_SECONDS."""
    cursor, _ = InboxCursor.objects.get_or_create(bucket=bucket, prefix=prefix)
    now = database_now()
    every = timedelta(seconds=settings.FRAUDCASE_INBOX_FULL_RESCAN_SECONDS)
    full = (
        full
        or cursor.full_scan_at is None
        or every <= timedelta(0)
        or cursor.full_scan_at <= now - every
    )
    return PrefixListing(
        bucket=bucket,
        prefix=prefix,
        start_after="" if full else cursor.start_after,
        full=full,
        started_at=now,
    )


def listed_keys(listing: PrefixListing, client) -> Iterator[dict]:
    """The objects S3 lists under the prefix after listing.start_after, in key order; each one
    listed is counted on the listing (folder markers too: they move the cursor as well)."""
    arguments = {"Bucket": listing.bucket, "Prefix": listing.prefix}
    if listing.start_after:
        arguments["StartAfter"] = listing.start_after
    for page in client.get_paginator("list_objects_v2").paginate(**arguments):
        for item in page.get("Contents", []):
            listing.keys_listed += 1
            listing.last_key = max(listing.last_key, item["Key"])
            yield item


def listing_finish(listing: PrefixListing) -> None:
    """Move the cursor past what this listing saw (never backwards: scans may overlap) and
    note a full listing's start. Called only once every listed object is registered, so a
    scan that failed half-way lists the rest again next time."""
    with transaction.atomic():
        cursor = InboxCursor.objects.select_for_update().get(
            bucket=listing.bucket, prefix=listing.prefix
        )
        # Python compares str by code point, which is UTF-8 byte order: S3's order.
        cursor.start_after = max(cursor.start_after, listing.last_key)
        if listing.full and (
            cursor.full_scan_at is None or cursor.full_scan_at < listing.started_at
        ):
            cursor.full_scan_at = listing.started_at
        cursor.updated_at = database_now()
        cursor.save(update_fields=["start_after", "full_scan_at", "updated_at"])
    logger.info(
        "inbox scan of s3://%s/%s: %s listing after %r, %d key(s) listed, %d new run(s)",
        listing.bucket, listing.prefix, "full" if listing.full else "incremental",
        listing.start_after, listing.keys_listed, len(listing.registered),
    )  # fmt: skip
