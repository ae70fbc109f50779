"""Celery tasks of the analytics app: they fill the shared cache, judge drift and fold the
label counters' rows (derived data only)."""

from __future__ import annotations

from celery import shared_task

from analytics.drift.services import drift_check_pending
from analytics.rollups import label_counters_compact
from analytics.selectors import IpMapFilters, ip_map


@shared_task(soft_time_limit=600, time_limit=660)
def warm_ip_map() -> int:
    """Beat: compute the IP map's default view into the shared cache before anyone asks.

    Returns how many IPs it placed. Idempotent; a lost run only means one slower first view.
    """
    return len(ip_map(IpMapFilters.default(), recompute=True).points)


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
