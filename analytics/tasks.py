"""Celery tasks of the analytics app: they fill the shared cache and the curation snapshot,
judge drift and fold the label counters' rows (derived data only)."""

from __future__ import annotations

from celery import shared_task

from analytics.common.ranges import DayRange
from analytics.curation.services import curation_snapshot_store
from analytics.drift.services import drift_check_pending
from analytics.rollups import label_counters_compact
from analytics.selectors import IpMapFilters, ip_map


@shared_task(soft_time_limit=600, time_limit=660)
def warm_ip_map() -> int:
    """Beat: compute the IP map's default view into the shared cache before anyone asks, and
    the curation page's snapshot of the same days from it (one aggregation for both).

    Returns how many IPs it placed. Idempotent; a lost run only means one slower first view.
    """
    filters = IpMapFilters.default()
    result = ip_map(filters, recompute=True)
    curation_snapshot_store(day_range=DayRange(filters.since, filters.until), result=result)
    return len(result.points)


@shared_task(soft_time_limit=600, time_limit=660)
def check_drift() -> int:
    """Beat: judge new ingest batches and finished days for drift (alerts, webhook events).

    Idempotent: each batch and day is judged once (DriftCheck). Returns the alerts written.
    """
    return drift_check_pending()


@shared_task(soft_time_limit=600, time_limit=660)
def compact_label_counters() -> int:
    """Beat: fold the append-only label counters' rows, one per key (the sums unchanged).

    Idempotent; a lost run only leaves more rows to sum on read. Returns the rows removed.
    """
    return sum(label_counters_compact().values())
