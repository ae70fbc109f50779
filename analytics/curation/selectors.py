"""Curation: countries, ASNs and IPs by flagged volume and fraud rate.

Countries come from the rollups (volume) and the label facts (fraud rate) in SQL; IPs and
their ASNs from the IP map's aggregation (analytics.selectors.ip_map), so the IP figures are
those of the IP map for the same days. That aggregation groups every source IP of the range
(seconds at a million transactions): for the default range beat stores its result
(CurationSnapshot, analytics.tasks.warm_ip_map) and the page reads that row; for another range
the page reads the IP map's cache, computes a small range itself, and leaves a large one to a
worker (analytics.curation.services.curation_computation_request) whose progress it shows
(curation_computation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, models

from analytics.common.facts_cache import label_fact_rows
from analytics.common.ranges import DayRange
from analytics.models import BatchRollup, CurationKind, CurationSnapshot, CurationStatus
from analytics.selectors import IpMap, IpMapFilters, ip_map, ip_map_kept
from cases.clock import DatabaseNow, database_now

TOP = 20


def top_countries(day_range: DayRange, *, limit: int = TOP) -> list[list]:
    """[country, flagged, labelled, fraud, fraud rate among labelled], most flagged first.

    The labelled counts per country read every label fact of the range: their rows are cached
    until a fact of the range changes (analytics.common.facts_cache) and joined in SQL as
    arrays, so the ranking and its ties are the database's as before."""
    params = {"since": day_range.since, "until": day_range.until}
    labelled = label_fact_rows(
        "curation-countries",
        """SELECT country, count(*), count(*) FILTER (WHERE label = 'fraud')
           FROM analytics_labelfact WHERE day BETWEEN %(since)s AND %(until)s GROUP BY 1""",
        params,
        day_range,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """WITH flagged AS (
                   SELECT value AS country, sum(transactions) AS n FROM analytics_categoryrollup
                   WHERE dimension = 'country' AND day BETWEEN %(since)s AND %(until)s GROUP BY 1
               ), labelled AS (
                   SELECT * FROM unnest(%(countries)s::varchar[], %(labelled)s::int8[],
                                        %(fraud)s::int8[]) AS l(country, n, fraud)
               )
               SELECT coalesce(nullif(flagged.country, ''), '(none)'), flagged.n,
                      coalesce(labelled.n, 0), coalesce(labelled.fraud, 0),
                      labelled.fraud::float8 / nullif(labelled.n, 0)
               FROM flagged LEFT JOIN labelled USING (country)
               ORDER BY flagged.n DESC, 1 LIMIT %(limit)s""",
            {**params, "limit": limit, "countries": [row[0] for row in labelled],
             "labelled": [row[1] for row in labelled], "fraud": [row[2] for row in labelled]},
        )  # fmt: skip
        return [list(row) for row in cursor.fetchall()]


@dataclass
class CurationIps:
    """The top IPs and ASNs of a range and where they came from."""

    ips: list[list]  # [ip, place, ASN, flagged, labelled, fraud, fraud rate, IP page]
    asns: list[list]  # [ASN, organisation, IPs, flagged, labelled, fraud, fraud rate]
    computed_at: datetime | None
    from_snapshot: bool
    by_beat: bool = False  # the default range's snapshot, refreshed by beat


def curation_rows(result: IpMap, *, limit: int = TOP) -> tuple[list[list], list[list]]:
    """The top IPs and ASNs (of the IPs the map looked up) of an IP map, most flagged first."""
    points = sorted(result.points + result.unplaced, key=lambda p: (-p.transactions, p.ip))
    ips = [
        [p.ip, p.place or p.kind, f"AS{p.asn}" if p.asn else "", p.transactions, p.labelled,
         p.fraud, p.fraud_rate, p.url]
        for p in points[:limit]
    ]  # fmt: skip
    asns: dict[str, list] = {}
    for p in points:
        key = f"AS{p.asn}" if p.asn else "(unknown)"
        row = asns.setdefault(key, [key, p.as_org, 0, 0, 0, 0, None])
        row[2] += 1
        row[3] += p.transactions
        row[4] += p.labelled
        row[5] += p.fraud
    for row in asns.values():
        row[6] = row[5] / row[4] if row[4] else None
    return ips, sorted(asns.values(), key=lambda r: (-r[3], r[0]))[:limit]


def curation_snapshot_fresh(day_range: DayRange) -> CurationSnapshot | None:
    """The stored snapshot of exactly this range, if younger than
    FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE (by the database's clock)."""
    max_age = settings.FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE
    if max_age <= 0:
        return None
    return CurationSnapshot.objects.filter(
        since=day_range.since,
        until=day_range.until,
        status=CurationStatus.READY,
        computed_at__gte=DatabaseNow() - timedelta(seconds=max_age),
    ).first()


def top_ips_and_asns(day_range: DayRange, *, limit: int = TOP) -> CurationIps:
    """The range's top IPs and ASNs, from the IP map of the same days: what is kept
    (curation_ips_kept: a fresh snapshot, or the IP map's cache), else the IP map's
    aggregation over every source IP of the range, in this call."""
    kept = curation_ips_kept(day_range, limit=limit)
    if kept is not None:
        return kept
    result = ip_map(IpMapFilters(since=day_range.since, until=day_range.until))
    ips, asns = curation_rows(result, limit=limit)
    return CurationIps(ips=ips, asns=asns, computed_at=result.computed_at, from_snapshot=False)


def curation_ips_kept(day_range: DayRange, *, limit: int = TOP) -> CurationIps | None:
    """The range's top IPs and ASNs when they need no aggregation: a fresh snapshot (one row)
    or the IP map of exactly this range in the shared cache; None otherwise."""
    snapshot = curation_snapshot_fresh(day_range)
    if snapshot is not None and limit <= TOP:
        return CurationIps(
            ips=snapshot.ips[:limit], asns=snapshot.asns[:limit],
            computed_at=snapshot.computed_at, from_snapshot=True,
            by_beat=snapshot.kind == CurationKind.DEFAULT,
        )  # fmt: skip
    kept = ip_map_kept(IpMapFilters(since=day_range.since, until=day_range.until))
    if kept is None:
        return None
    ips, asns = curation_rows(kept, limit=limit)
    return CurationIps(ips=ips, asns=asns, computed_at=kept.computed_at, from_snapshot=False)


def range_volume(day_range: DayRange) -> int:
    """The range's flagged transactions from the rollups (one indexed sum): what the IP map's
    aggregation of the range will have to group, near enough to choose where to compute it."""
    rows = BatchRollup.objects.filter(day__range=(day_range.since, day_range.until))
    return rows.aggregate(n=models.Sum("transactions"))["n"] or 0


def computes_inline(day_range: DayRange) -> bool:
    """Whether the page computes the range's IPs itself (a small range: at most
    FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS flagged) rather than leave it to a worker.
    Rows loaded past ingest are not in the rollups until analytics_rebuild_rollups."""
    return range_volume(day_range) <= settings.FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS


@dataclass
class CurationComputation:
    """Where a range's computation stands, as the page and its status endpoint show it."""

    since: date
    until: date
    state: str  # "computing", "ready", "failed", or "none" (never asked for)
    requested_at: datetime | None = None
    elapsed_seconds: float | None = None
    estimate_seconds: float | None = None  # from the last comparable computation's duration
    error: str = ""

    @property
    def progress(self) -> float | None:
        """Elapsed against the estimate, at most 0.99 until it is done: an estimate."""
        if self.state == "ready":
            return 1.0
        if self.state != "computing" or not self.estimate_seconds:
            return None
        return min(0.99, (self.elapsed_seconds or 0) / self.estimate_seconds)

    @property
    def percent(self) -> int | None:
        return None if self.progress is None else round(self.progress * 100)

    def as_json(self) -> dict:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "state": self.state,
            "requested_at": self.requested_at.isoformat() if self.requested_at else None,
            "elapsed_seconds": None if self.elapsed_seconds is None else round(self.elapsed_seconds),
            "estimate_seconds": (
                None if self.estimate_seconds is None else round(self.estimate_seconds)
            ),
            "progress": None if self.progress is None else round(self.progress, 3),
            "percent": self.percent,
            "error": self.error,
        }  # fmt: skip


def computation_expired(snapshot: CurationSnapshot, now: datetime) -> bool:
    """A computation asked for longer ago than FRAUDCASE_CURATION_COMPUTE_SECONDS and not
    finished: its worker died or it waits behind too much; it counts as failed."""
    limit = timedelta(seconds=settings.FRAUDCASE_CURATION_COMPUTE_SECONDS)
    return snapshot.status == CurationStatus.COMPUTING and (
        snapshot.requested_at is None or snapshot.requested_at < now - limit
    )


def _estimate(snapshot: CurationSnapshot) -> float | None:
    """This range's last duration, else the last other finished computation's, scaled by the
    two ranges' flagged volumes (the aggregation grows with the rows it groups)."""
    if snapshot.duration_seconds:
        return snapshot.duration_seconds
    other = (
        CurationSnapshot.objects.filter(
            duration_seconds__gt=0, transactions__gt=0, computed_at__isnull=False
        )
        .exclude(pk=snapshot.pk)
        .order_by("-computed_at")
        .first()
    )
    if other is None or not snapshot.transactions:
        return None
    return other.duration_seconds * snapshot.transactions / other.transactions


def curation_computation(day_range: DayRange) -> CurationComputation:
    """Where the computation of the range's IPs and ASNs stands (by the database's clock)."""
    found = CurationComputation(since=day_range.since, until=day_range.until, state="none")
    if curation_ips_kept(day_range) is not None:
        found.state = "ready"
        return found
    snapshot = CurationSnapshot.objects.filter(since=day_range.since, until=day_range.until).first()
    if snapshot is None or snapshot.requested_at is None:
        return found
    now = database_now()
    found.requested_at = snapshot.requested_at
    found.elapsed_seconds = max(0.0, (now - snapshot.requested_at).total_seconds())
    if computation_expired(snapshot, now):
        found.state = "failed"
        found.error = (
            f"the computation did not finish within {settings.FRAUDCASE_CURATION_COMPUTE_SECONDS}"
            " s of being asked for (no worker running, or a worker stopped during it)"
        )
    elif snapshot.status == CurationStatus.COMPUTING:
        found.state = "computing"
        found.estimate_seconds = _estimate(snapshot)
    elif snapshot.status == CurationStatus.FAILED:
        found.state, found.error = "failed", snapshot.error or "the computation failed"
    else:  # ready but older than FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE: asked for anew
        found.state = "none"
    return found
