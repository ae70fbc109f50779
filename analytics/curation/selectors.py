"""Curation: countries, ASNs and IPs by flagged volume and fraud rate.

Countries come from the rollups (volume) and the label facts (fraud rate) in SQL; IPs and
their ASNs from the IP map's aggregation (analytics.selectors.ip_map), so the IP figures are
those of the IP map for the same days. That aggregation groups every source IP of the range
(seconds at a million transactions): for the default range beat stores its result
(CurationSnapshot, analytics.tasks.warm_ip_map) and the page reads that row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from analytics.common.facts_cache import label_fact_rows
from analytics.common.ranges import DayRange
from analytics.models import CurationSnapshot
from analytics.selectors import IpMap, IpMapFilters, ip_map
from cases.clock import DatabaseNow

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
        computed_at__gte=DatabaseNow() - timedelta(seconds=max_age),
    ).first()


def top_ips_and_asns(day_range: DayRange, *, limit: int = TOP) -> CurationIps:
    """The range's top IPs and ASNs, from the IP map of the same days: beat's snapshot when
    there is a fresh one for this range (one row read), else the IP map (its cache, or its
    aggregation over every source IP of the range)."""
    snapshot = curation_snapshot_fresh(day_range)
    if snapshot is not None and limit <= TOP:
        return CurationIps(
            ips=snapshot.ips[:limit], asns=snapshot.asns[:limit],
            computed_at=snapshot.computed_at, from_snapshot=True,
        )  # fmt: skip
    result = ip_map(IpMapFilters(since=day_range.since, until=day_range.until))
    ips, asns = curation_rows(result, limit=limit)
    return CurationIps(ips=ips, asns=asns, computed_at=result.computed_at, from_snapshot=False)
