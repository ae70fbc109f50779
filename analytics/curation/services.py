"""Keeping the curation page's snapshot (derived data: no one's decision, no audit event)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from analytics.common.ranges import DayRange
from analytics.curation.selectors import TOP, curation_rows
from analytics.models import CurationSnapshot
from analytics.selectors import IpMap
from cases.clock import database_now

# Snapshots of ranges that ended this long ago are dropped at the next store.
KEEP_DAYS = 2


def curation_snapshot_store(*, day_range: DayRange, result: IpMap) -> CurationSnapshot:
    """Store the top IPs and ASNs of result (the IP map of exactly day_range, no other filter)
    as the range's snapshot, stamped with the database's now; drop snapshots of ranges that
    ended more than KEEP_DAYS before it. Idempotent: one row per range, replaced."""
    filters = result.filters
    if (filters.since, filters.until) != (day_range.since, day_range.until) or (
        filters.score_min is not None or filters.country or filters.outcome
    ):
        raise ValueError("the snapshot is of an IP map of exactly its range, unfiltered")
    ips, asns = curation_rows(result, limit=TOP)
    with transaction.atomic():
        snapshot, _ = CurationSnapshot.objects.update_or_create(
            since=day_range.since,
            until=day_range.until,
            defaults={"computed_at": database_now(), "ips": ips, "asns": asns},
        )
        CurationSnapshot.objects.filter(
            until__lt=day_range.until - timedelta(days=KEEP_DAYS)
        ).delete()
    return snapshot
