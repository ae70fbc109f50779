"""The operations page's figures, kept a short while in the shared cache.

Most of them (cases opened, closed, open by age, SLA breaches, time to breach, throughput,
analysts' times, reassignments) are GROUP BYs over cases_case and the audit trail on every
request. They have no exact cache key: they depend on now() and on every case write, and a
change counter on cases_case would serialise case writes. So, as dashboards do (Grafana's
and Metabase's query caches), the figures of one (range, scope, time zone) are computed at
most once per FRAUDCASE_OPERATIONS_CACHE_SECONDS and the page says when: computed_at is the
database's clock (cases.clock), and the time-dependent figures (age, SLA, time to breach) are
computed against that same instant. 0 turns the cache off: every request computes live.

Scope: the team's figures (scope None: leads, auditors) or one analyst's own
(cases.policies.analytics_analyst_filter); the key holds the scope, so nobody is served
another's figures. The team's rollup and history figures (flagged per day, labels queued and
exported per day, the ingest runs' books) are kept with the rest: one "as of" for every chart
(and the labels queued per day count outbox rows that no index covers once exported). Only
the label-export backlog, a few counts of what waits now, stays live (the view reads it).

A miss takes a lock in the cache (cache.add, one round trip): the requests that miss while it
is held wait for its figures (up to WAIT_SECONDS) instead of running the same statements
beside it; past that (a slow or dead holder) they compute their own.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from analytics.common.ranges import DEFAULT_DAYS, DayRange
from analytics.operations import selectors as ops
from cases.clock import database_now

# Bounds how long a crashed computation's lock keeps others waiting for it.
LOCK_SECONDS = 30
# How long a request that missed waits for another's computation before doing its own.
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05
_VERSION = 2  # part of the key: a change of the figures' shape leaves old entries unread


@dataclass(frozen=True)
class OperationsFigures:
    """The tables (rows as the selectors return them) and when they were computed."""

    tables: dict[str, list[list]]
    computed_at: datetime  # the database's clock; the age and SLA figures are as of it
    from_cache: bool  # False: computed for this call


def operations_figures(
    day_range: DayRange,
    *,
    analyst_id: int | None,
    analyst_name: str | None,
    recompute: bool = False,
    wait_seconds: float = WAIT_SECONDS,
) -> OperationsFigures:
    """The operations figures of day_range: the team's (analyst_id None: flagged volume,
    cases opened, closed, by age, SLA breaches, time to breach, labels queued and exported,
    the ingest runs' books, and every analyst's throughput, times and reassignments) or only
    analyst_id's own throughput, times and reassignments (analyst_name: the reassignments
    they were part of).

    Kept FRAUDCASE_OPERATIONS_CACHE_SECONDS per (range, scope, time zone); 0: computed on
    every call. recompute=True computes afresh and stores (beat's warm-up). The rows equal the
    selectors' with now=computed_at."""
    seconds = settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS
    if seconds <= 0:
        return _computed(day_range, analyst_id, analyst_name)
    key = _cache_key(day_range, analyst_id, analyst_name)
    if not recompute:
        kept = _kept(key)
        if kept is not None:
            return kept
    lock = f"{key}:computing"
    if recompute or cache.add(lock, True, timeout=LOCK_SECONDS):
        try:
            return _stored(key, seconds, _computed(day_range, analyst_id, analyst_name))
        finally:
            if not recompute:
                cache.delete(lock)
    # Another request is computing these figures: take its result when it lands.
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        kept = _kept(key)
        if kept is not None:
            return kept
    return _stored(key, seconds, _computed(day_range, analyst_id, analyst_name))


def operations_figures_warm() -> datetime | None:
    """Beat: the team's figures of the default range (the last DEFAULT_DAYS days, what a lead
    sees first) computed into the cache, so the first request finds them. Idempotent (it only
    replaces the entry); None when the cache is off."""
    if settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS <= 0:
        return None
    figures = operations_figures(
        DayRange.last(DEFAULT_DAYS), analyst_id=None, analyst_name=None, recompute=True
    )
    return figures.computed_at


def _computed(day_range: DayRange, analyst_id: int | None, analyst_name: str | None):
    now = database_now()
    tables = {}
    if analyst_id is None:
        tables["flagged"] = ops.flagged_per_day(day_range)
        tables["opened"] = ops.cases_opened_per_day(day_range)
        tables["closed"] = ops.cases_closed_per_day(day_range)
        tables["ages"] = ops.open_cases_by_age(now=now)
        tables["breaches"] = ops.sla_breaches_per_day(day_range, now=now)
        tables["to_breach"] = ops.time_to_breach(now=now)
        tables["exports"] = ops.label_export_per_day(day_range)
        tables["books"] = ops.ingest_books_per_day(day_range)
    tables["closes"] = ops.closes_per_analyst(day_range, analyst_id=analyst_id)
    tables["times"] = ops.analyst_times(day_range, analyst_id=analyst_id)
    tables["moves"] = ops.reassignments_per_day(day_range, analyst_name=analyst_name)
    return OperationsFigures(tables=tables, computed_at=now, from_cache=False)


def _stored(key: str, seconds: int, figures: OperationsFigures) -> OperationsFigures:
    cache.set(key, {"tables": figures.tables, "computed_at": figures.computed_at}, timeout=seconds)
    return figures


def _kept(key: str) -> OperationsFigures | None:
    kept = cache.get(key)
    if kept is None:
        return None
    return OperationsFigures(
        tables=kept["tables"], computed_at=kept["computed_at"], from_cache=True
    )


def _cache_key(day_range: DayRange, analyst_id: int | None, analyst_name: str | None) -> str:
    scope = "team" if analyst_id is None else f"analyst-{analyst_id}"
    what = repr((_VERSION, day_range.since, day_range.until, scope, analyst_name,
                 timezone.get_current_timezone_name()))  # fmt: skip
    return f"analytics:operations:{scope}:" + hashlib.sha256(what.encode()).hexdigest()
