"""Keeping the curation page's snapshots (derived data: no one's decision, no audit event).

Beat stores the default range's (curation_snapshot_store). A range a user picks is computed by
a worker when the page asks for it (curation_computation_request queues
analytics.tasks.compute_curation, which runs curation_computation_run): one computation per
range at a time, claimed by a conditional UPDATE of the range's row (no row lock held), and at
most FRAUDCASE_CURATION_CUSTOM_RANGES_KEPT such ranges kept.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from analytics.common.ranges import DEFAULT_DAYS, DayRange
from analytics.curation.selectors import (
    TOP,
    CurationComputation,
    CurationIps,
    computes_inline,
    curation_computation,
    curation_ips_kept,
    curation_rows,
    range_volume,
    top_ips_and_asns,
)
from analytics.models import CurationKind, CurationSnapshot, CurationStatus
from analytics.selectors import IpMap, IpMapFilters, ip_map
from cases import dispatch
from cases.clock import database_now

logger = logging.getLogger(__name__)

# Default-range snapshots of ranges that ended this long ago are dropped at the next store.
KEEP_DAYS = 2
ERROR_LENGTH = 500  # characters of a failure's message kept for the page


def _check_result(day_range: DayRange, result: IpMap) -> None:
    filters = result.filters
    if (filters.since, filters.until) != (day_range.since, day_range.until) or (
        filters.score_min is not None or filters.country or filters.outcome
    ):
        raise ValueError("the snapshot is of an IP map of exactly its range, unfiltered")


def curation_snapshot_store(
    *, day_range: DayRange, result: IpMap, duration_seconds: float | None = None
) -> CurationSnapshot:
    """Store the top IPs and ASNs of result (the IP map of exactly day_range, no other filter)
    as the default range's snapshot (beat's), stamped with the database's now; drop default
    snapshots of ranges that ended more than KEEP_DAYS before it (users' ranges are bounded
    apart). Idempotent: one row per range, replaced."""
    _check_result(day_range, result)
    ips, asns = curation_rows(result, limit=TOP)
    with transaction.atomic():
        snapshot, _ = CurationSnapshot.objects.update_or_create(
            since=day_range.since,
            until=day_range.until,
            defaults={
                "computed_at": database_now(), "ips": ips, "asns": asns,
                "kind": CurationKind.DEFAULT, "status": CurationStatus.READY, "error": "",
                "transactions": range_volume(day_range),
                **({"duration_seconds": duration_seconds} if duration_seconds else {}),
            },
        )  # fmt: skip
        CurationSnapshot.objects.filter(
            kind=CurationKind.DEFAULT, until__lt=day_range.until - timedelta(days=KEEP_DAYS)
        ).delete()
    return snapshot


def _kind(day_range: DayRange) -> str:
    default = DayRange.last(DEFAULT_DAYS)
    return CurationKind.DEFAULT if day_range == default else CurationKind.CUSTOM


def curation_ips_for_page(
    day_range: DayRange,
) -> tuple[CurationIps | None, CurationComputation | None]:
    """The curation page's IPs and ASNs of the range, or where their computation stands: what
    is kept (a fresh snapshot, the IP map's cache), else computed here for a small range
    (computes_inline), else asked of a worker (curation_computation_request) and its state
    returned, unless a worker stored them since the first look."""
    top = curation_ips_kept(day_range)
    if top is not None:
        return top, None
    if computes_inline(day_range):
        return top_ips_and_asns(day_range), None
    curation_computation_request(day_range)
    computation = curation_computation(day_range)
    if computation.state == "ready":
        return curation_ips_kept(day_range), None
    return None, computation


def curation_computation_request(day_range: DayRange, *, retry: bool = False) -> bool:
    """Ask a worker to compute the range's IPs and ASNs, unless it is already being computed
    (asked for less than FRAUDCASE_CURATION_COMPUTE_SECONDS ago) or has a fresh snapshot.
    A failed computation (or one that ran out of time) is asked for again only with retry:
    the page shows the failure and offers that, rather than failing again on every view.

    Returns whether this call queued the computation (True for one caller of many at once:
    the claim is a conditional UPDATE of the range's row, which the database serialises).
    The task is sent when the transaction commits."""
    max_age = timedelta(seconds=settings.FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE)
    limit = timedelta(seconds=settings.FRAUDCASE_CURATION_COMPUTE_SECONDS)
    with transaction.atomic():
        now = database_now()
        kind = _kind(day_range)
        # A new range's row: failed but never asked for (no requested_at), so claimed below.
        new = CurationSnapshot(
            since=day_range.since, until=day_range.until, kind=kind, status=CurationStatus.FAILED
        )
        CurationSnapshot.objects.bulk_create([new], ignore_conflicts=True)
        running = Q(status=CurationStatus.COMPUTING, requested_at__gte=now - limit)
        fresh = Q(status=CurationStatus.READY, computed_at__gte=now - max_age)
        claimable = ~running & ~fresh
        if not retry:  # a new row has no requested_at: claimable without retry
            failed = Q(status=CurationStatus.FAILED) | Q(status=CurationStatus.COMPUTING)
            claimable &= ~(failed & Q(requested_at__isnull=False))
        claimed = (
            CurationSnapshot.objects.filter(since=day_range.since, until=day_range.until)
            .filter(claimable)
            .update(
                status=CurationStatus.COMPUTING,
                requested_at=now,
                error="",
                transactions=range_volume(day_range),
            )
        )
        if not claimed:
            return False
        if kind == CurationKind.CUSTOM:
            _prune_custom()
        transaction.on_commit(lambda: _send(day_range))
    return True


def _send(day_range: DayRange) -> None:
    """Queue the claimed computation; a broker out of reach fails it at once (the page says
    so and offers to retry) rather than leave it computing until it runs out of time."""
    try:
        dispatch.queue(
            dispatch.COMPUTE_CURATION, day_range.since.isoformat(), day_range.until.isoformat()
        )
    except Exception as error:
        logger.exception("could not queue the curation of %s", day_range)
        curation_computation_failed(day_range, f"could not reach the task queue: {error}")


def _prune_custom() -> int:
    """Drop the users' ranges past FRAUDCASE_CURATION_CUSTOM_RANGES_KEPT, the least recently
    asked for first; one being computed stays (its worker will store it)."""
    keep = settings.FRAUDCASE_CURATION_CUSTOM_RANGES_KEPT
    custom = CurationSnapshot.objects.filter(kind=CurationKind.CUSTOM)
    kept = custom.order_by(F("requested_at").desc(nulls_last=True), "-id").values("id")[:keep]
    doomed = custom.exclude(id__in=kept).exclude(status=CurationStatus.COMPUTING)
    return doomed.delete()[0]


def curation_computation_run(day_range: DayRange) -> CurationSnapshot:
    """The worker's side: compute the range's IP map (also kept in the IP map's cache) and
    store its top IPs and ASNs as the range's snapshot, ready, with how long it took.

    Idempotent and retry-safe: a range whose snapshot is already fresh (a second message for
    it) is not computed again; a range whose row was pruned meanwhile gets one again."""
    fresh = CurationSnapshot.objects.filter(
        since=day_range.since, until=day_range.until, status=CurationStatus.READY,
        computed_at__gte=database_now()
        - timedelta(seconds=settings.FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE),
    ).first()  # fmt: skip
    if fresh is not None:
        return fresh
    started = time.perf_counter()
    result = ip_map(IpMapFilters(since=day_range.since, until=day_range.until), recompute=True)
    _check_result(day_range, result)
    ips, asns = curation_rows(result, limit=TOP)
    duration = time.perf_counter() - started
    with transaction.atomic():
        snapshot, _ = CurationSnapshot.objects.update_or_create(
            since=day_range.since,
            until=day_range.until,
            defaults={
                "computed_at": database_now(), "ips": ips, "asns": asns, "error": "",
                "status": CurationStatus.READY, "duration_seconds": duration,
            },
            create_defaults={
                "computed_at": database_now(), "ips": ips, "asns": asns,
                "status": CurationStatus.READY, "duration_seconds": duration,
                "kind": _kind(day_range), "requested_at": database_now(),
                "transactions": range_volume(day_range),
            },
        )  # fmt: skip
    return snapshot


def curation_computation_failed(day_range: DayRange, error: str) -> int:
    """Mark the range's computation failed with the error's message (the page shows it and
    offers to retry). Only a computation still running is marked: a snapshot a retry stored
    meanwhile stays ready. Returns the rows marked."""
    return CurationSnapshot.objects.filter(
        since=day_range.since, until=day_range.until, status=CurationStatus.COMPUTING
    ).update(status=CurationStatus.FAILED, error=error[:ERROR_LENGTH])
