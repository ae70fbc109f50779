"""Celery tasks of the analytics app: they fill the shared cache (the IP map, the operations
page's figures) and the curation snapshot, judge drift and fold the label counters' rows
(derived data only)."""

from __future__ import annotations

import time
from datetime import date

from celery import shared_task

from analytics.common.ranges import DayRange
from analytics.curation.services import (
    curation_computation_failed,
    curation_computation_run,
    curation_snapshot_store,
)
from analytics.drift.services import drift_check_pending
from analytics.operations.cache import operations_figures_warm
from analytics.rollups import label_counters_compact
from analytics.selectors import IpMapFilters, ip_map


@shared_task(soft_time_limit=600, time_limit=660)
def warm_ip_map() -> int:
    """Beat: compute the IP map's default view into the shared cache before anyone asks, and
    the curation page's snapshot of the same days from it (one aggregation for both).

    Returns how many IPs it placed. Idempotent; a lost run only means one slower first view.
    """
    filters = IpMapFilters.default()
    started = time.perf_counter()
    result = ip_map(filters, recompute=True)
    curation_snapshot_store(
        day_range=DayRange(filters.since, filters.until), result=result,
        duration_seconds=time.perf_counter() - started,
    )  # fmt: skip
    return len(result.points)


@shared_task(soft_time_limit=120, time_limit=150)
def warm_operations() -> str | None:
    """Beat: the team's operations figures of the default range computed into the shared
    cache (analytics.operations.cache), so a lead's first request of the day finds them.

    Idempotent and safe to retry: it only replaces a cache entry. Returns when the figures
    were computed (the database's clock, ISO 8601), None when the cache is off.
    """
    computed_at = operations_figures_warm()
    return None if computed_at is None else computed_at.isoformat()


@shared_task(soft_time_limit=600, time_limit=660)
def compute_curation(since: str, until: str) -> int:
    """The curation page's IPs and ASNs of a range a user picked (asked for by the page through
    analytics.curation.services.curation_computation_request): compute and store its snapshot.

    Idempotent (a range already fresh is not computed again) and retry-safe (the row is
    replaced whole). A failure, the soft time limit included, marks the computation failed
    with its message, which the page shows with a retry; a worker lost outright leaves it
    computing until FRAUDCASE_CURATION_COMPUTE_SECONDS, after which it counts as failed.
    Returns how many IPs the snapshot lists."""
    day_range = DayRange(date.fromisoformat(since), date.fromisoformat(until))
    try:
        snapshot = curation_computation_run(day_range)
    except Exception as error:  # SoftTimeLimitExceeded too
        curation_computation_failed(day_range, f"{type(error).__name__}: {error}")
        raise
    return len(snapshot.ips)


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
