"""The IP map: transactions per source IP in a time range, placed by the cases app's enrichment.

Reads only. The aggregation runs in PostgreSQL (one GROUP BY source_ip over the range, then
details for the IPs shown only); places come from cases.ips.selectors.ip.ip_places for the IPs
shown, never for all of them. Special-purpose addresses (private, loopback, documentation,
carrier NAT...) are recognised in SQL, counted and listed apart, and never placed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from cases.ingest.selectors import recent_ingest_runs
from cases.ips.ipaddr import (
    DOCUMENTATION_NETWORKS,
    PRIVATE_NETWORKS,
    RESERVED_NETWORKS,
    SHARED_NETWORK,
)
from cases.ips.selectors.ip import ip_places
from cases.ips.selectors.links import ip_page_url
from cases.models import (
    FINISHED_CASE_STATUSES,
    REFERENCE_PREFIX,
    CaseStatus,
    Label,
    QuarantinedRow,
    Transaction,
    parse_case_reference,
)
from cases.policies import sees_every_case, visible_account_ids, visible_case_ids, visible_cases

# Never on the map: what the GeoIP databases cannot place (RFC 6890 and friends). The
# enrichment's own lists, plus what it tells by Python's flags, which SQL must name (loopback,
# link-local, multicast and above, 6to4 relay, NAT64), and IPv4-mapped IPv6, kept apart here.
SPECIAL_NETWORKS = tuple(
    str(network)
    for network in (
        *DOCUMENTATION_NETWORKS, *PRIVATE_NETWORKS, SHARED_NETWORK, *RESERVED_NETWORKS,
    )
) + (
    "127.0.0.0/8", "169.254.0.0/16", "192.88.99.0/24", "224.0.0.0/3",
    "::/127", "::ffff:0:0/96", "64:ff9b::/96", "fe80::/10", "ff00::/8",
)  # fmt: skip
UNPLACED_LISTED = 50  # rows of the "not on the map" table
SAMPLES = 3  # account ids and case references named in a point's hover


@dataclass
class IpMapFilters:
    since: date
    until: date  # inclusive
    score_min: float | None = None
    country: str = ""
    outcome: str = ""

    @classmethod
    def default(cls) -> IpMapFilters:
        today = timezone.localdate()
        return cls(since=today - timedelta(days=29), until=today)

    def time_range(self) -> tuple[datetime, datetime]:
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.since, time.min, tzinfo=zone)
        end = datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=zone)
        return start, end


@dataclass
class IpPoint:
    ip: str
    transactions: int
    fraud: int
    labelled: int
    accounts: int = 0
    cases: int = 0
    open_cases: int = 0
    sample_accounts: list[str] = field(default_factory=list)
    sample_cases: list[str] = field(default_factory=list)
    kind: str = ""
    place: str = ""
    asn: int | None = None
    as_org: str = ""
    latitude: float | None = None
    longitude: float | None = None
    url: str = ""  # the IP page

    @property
    def fraud_rate(self) -> float | None:
        """Fraud among the labelled transactions; None when none is labelled."""
        return self.fraud / self.labelled if self.labelled else None


@dataclass
class IpMap:
    filters: IpMapFilters
    max_points: int
    points: list[IpPoint]  # placed, at most max_points, most transactions first
    unplaced: list[IpPoint]  # shown apart: special-purpose, or public without a place
    public_ips: int  # distinct public IPs in the range (placed or not)
    public_transactions: int
    special_ips: int  # distinct special-purpose IPs in the range
    special_transactions: int
    unlocated_shown: int  # of the public IPs looked up, those the databases could not place
    computed_at: datetime | None = None
    from_cache: bool = False

    @property
    def capped(self) -> bool:
        return self.public_ips > self.max_points

    @property
    def unplaced_ips(self) -> int:
        return self.special_ips + self.unlocated_shown

    def chart_data(self) -> dict:
        """What static/js/ip_map.js draws (given to the page with json_script)."""
        return {
            "points": [
                {
                    "ip": p.ip, "lat": p.latitude, "lon": p.longitude,
                    "transactions": p.transactions, "fraud": p.fraud, "labelled": p.labelled,
                    "fraud_rate": None if p.fraud_rate is None else round(p.fraud_rate, 4),
                    "accounts": p.accounts, "cases": p.cases, "open_cases": p.open_cases,
                    "sample_accounts": p.sample_accounts, "sample_cases": p.sample_cases,
                    "place": p.place, "asn": p.asn, "as_org": p.as_org, "url": p.url,
                }
                for p in self.points
            ]
        }  # fmt: skip


def _where(filters: IpMapFilters) -> tuple[str, dict]:
    start, end = filters.time_range()
    conditions = [
        "t.source_ip IS NOT NULL",
        "t.occurred_at >= %(start)s",
        "t.occurred_at < %(end)s",
    ]
    params: dict = {"start": start, "end": end}
    if filters.score_min is not None:
        conditions.append("t.similarity_score >= %(score_min)s")
        params["score_min"] = filters.score_min
    if filters.country:
        conditions.append("t.country = %(country)s")
        params["country"] = filters.country
    if filters.outcome:
        conditions.append("t.outcome = %(outcome)s")
        params["outcome"] = filters.outcome
    return " AND ".join(conditions), params


# One pass over the range: per-IP counts, each IP marked special or not once per IP (a cheap
# first-octet test first: the exact network test on 200k IPs costs a third of a second), then
# the summary, the top public IPs and the top special ones in one round trip.
_PER_IP_SQL = """
WITH per_ip AS MATERIALIZED (
    SELECT t.source_ip AS ip, count(*) AS transactions,
           count(*) FILTER (WHERE t.label = %(fraud)s) AS fraud,
           count(*) FILTER (WHERE t.label <> '') AS labelled,
           CASE WHEN family(t.source_ip) = 4
                     AND t.source_ip < '224.0.0.0'::inet
                     AND NOT ((t.source_ip - '0.0.0.0'::inet) >> 24) = ANY(%(special_octets)s)
                THEN false
                ELSE t.source_ip <<= ANY(%(special)s::inet[]) END AS special
    FROM cases_transaction t WHERE {where} GROUP BY t.source_ip
)
(SELECT 'summary', NULL, count(*) FILTER (WHERE NOT special),
        coalesce(sum(transactions) FILTER (WHERE NOT special), 0)::bigint,
        count(*) FILTER (WHERE special),
        coalesce(sum(transactions) FILTER (WHERE special), 0)::bigint
 FROM per_ip)
UNION ALL
(SELECT 'public', host(ip), transactions, fraud, labelled, 0 FROM per_ip WHERE NOT special
 ORDER BY transactions DESC, ip LIMIT %(points)s)
UNION ALL
(SELECT 'special', host(ip), transactions, fraud, labelled, 0 FROM per_ip WHERE special
 ORDER BY transactions DESC, ip LIMIT %(unplaced)s)
"""
# First octets of the IPv4 networks in SPECIAL_NETWORKS below 224 (224.0.0.0/3 is tested
# apart): an IP whose first octet is not here cannot be special.
SPECIAL_FIRST_OCTETS = sorted(
    {int(network.split(".")[0]) for network in SPECIAL_NETWORKS if "." in network}
    - set(range(224, 256))
)
# The aggregation of a million rows hashes in memory instead of spilling to disk.
AGGREGATION_WORK_MEM = "64MB"

# Accounts and cases of the IPs shown only (the same filters).
_DETAILS_SQL = """
SELECT host(t.source_ip), count(DISTINCT t.account_id), count(DISTINCT t.case_id),
       count(DISTINCT t.case_id) FILTER (WHERE c.status <> ALL(%(finished)s)),
       (array_agg(DISTINCT t.account_id ORDER BY t.account_id))[1:%(samples)s],
       (array_agg(DISTINCT t.case_id ORDER BY t.case_id DESC))[1:%(samples)s]
FROM cases_transaction t JOIN cases_case c ON c.id = t.case_id
WHERE {where} AND t.source_ip = ANY(%(ips)s::inet[])
GROUP BY t.source_ip
"""


def ip_map(
    filters: IpMapFilters, *, max_points: int | None = None, recompute: bool = False
) -> IpMap:
    """The IPs seen in the range under the filters: the max_points public IPs with the most
    transactions placed on the map (ties by address), special-purpose ones apart.

    Kept FRAUDCASE_IP_MAP_CACHE_SECONDS per filter set in the shared cache (computed_at says
    when it was made); recompute=True computes it afresh and stores it (beat's warm-up).
    """
    max_points = max_points or settings.FRAUDCASE_IP_MAP_MAX_POINTS
    seconds = settings.FRAUDCASE_IP_MAP_CACHE_SECONDS
    if seconds > 0 and not recompute:
        kept = ip_map_kept(filters, max_points=max_points)
        if kept is not None:
            return kept
    result = _ip_map(filters, max_points)
    if seconds > 0:
        cache.set(_cache_key(filters, max_points), result, timeout=seconds)
    return result


def ip_map_seen_by(result: IpMap, viewer) -> IpMap:
    """The map as viewer may see it: the sample accounts and cases in each point's hover are
    only those of cases viewer may read (cases.policies); counts stay whole. Two queries."""
    if sees_every_case(viewer):
        return result
    points = result.points + result.unplaced
    accounts = visible_account_ids(viewer, {a for p in points for a in p.sample_accounts})
    case_ids = visible_case_ids(
        viewer, {parse_case_reference(ref) for p in points for ref in p.sample_cases}
    )

    def seen(point: IpPoint) -> IpPoint:
        return replace(
            point,
            sample_accounts=[a for a in point.sample_accounts if a in accounts],
            sample_cases=[r for r in point.sample_cases if parse_case_reference(r) in case_ids],
        )

    return replace(
        result,
        points=[seen(point) for point in result.points],
        unplaced=[seen(point) for point in result.unplaced],
    )


def ip_map_kept(filters: IpMapFilters, *, max_points: int | None = None) -> IpMap | None:
    """The map kept in the shared cache for these filters, None when there is none (this
    never computes one)."""
    max_points = max_points or settings.FRAUDCASE_IP_MAP_MAX_POINTS
    kept = cache.get(_cache_key(filters, max_points))
    if kept is not None:
        kept.from_cache = True
    return kept


def _cache_key(filters: IpMapFilters, max_points: int) -> str:
    return "analytics:ip-map:" + hashlib.sha256(repr((filters, max_points)).encode()).hexdigest()


def _ip_map(filters: IpMapFilters, max_points: int) -> IpMap:
    """Two SQL statements plus the enrichment cache read (and enrichment of shown IPs not
    cached yet)."""
    where, params = _where(filters)
    summary = None
    public: list[IpPoint] = []
    special: list[IpPoint] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'")
        cursor.execute(
            _PER_IP_SQL.format(where=where),
            {**params, "fraud": Label.FRAUD.value, "special": list(SPECIAL_NETWORKS),
             "special_octets": SPECIAL_FIRST_OCTETS, "points": max_points,
             "unplaced": UNPLACED_LISTED},
        )  # fmt: skip
        for row_type, ip, transactions, fraud, labelled, special_transactions in cursor.fetchall():
            if row_type == "summary":
                summary = (ip, transactions, fraud, labelled, special_transactions)
            else:
                point = IpPoint(ip=ip, transactions=transactions, fraud=fraud, labelled=labelled)
                (public if row_type == "public" else special).append(point)
        shown = {point.ip: point for point in public + special}
        if shown:
            cursor.execute(
                _DETAILS_SQL.format(where=where),
                {**params, "ips": list(shown), "samples": SAMPLES,
                 "finished": [str(status) for status in FINISHED_CASE_STATUSES]},
            )  # fmt: skip
            for ip, accounts, cases, open_cases, sample_accounts, sample_cases in cursor.fetchall():
                point = shown[ip]
                point.accounts, point.cases, point.open_cases = accounts, cases, open_cases
                point.sample_accounts = list(sample_accounts)
                point.sample_cases = [f"{REFERENCE_PREFIX}{pk:06d}" for pk in sample_cases]
    _, public_ips, public_transactions, special_ips, special_transactions = summary or (0,) * 5

    places = ip_places(point.ip for point in public + special)
    for point in public + special:
        place = places.get(point.ip)
        if place is not None:
            point.kind, point.place = place.kind, place.place_label
            point.asn, point.as_org = place.asn, place.as_org
        point.url = ip_page_url(point.ip)
    placed, unlocated = [], []
    for point in public:
        place = places.get(point.ip)
        if place is not None and place.mappable:
            point.latitude, point.longitude = place.latitude, place.longitude
            placed.append(point)
        else:
            unlocated.append(point)
    return IpMap(
        filters=filters, max_points=max_points, points=placed,
        unplaced=special + unlocated,
        public_ips=public_ips, public_transactions=public_transactions,
        special_ips=special_ips, special_transactions=special_transactions,
        unlocated_shown=len(unlocated), computed_at=timezone.now(),
    )  # fmt: skip


# --- the overview page --------------------------------------------------------------------


def overview(*, viewer) -> dict:
    """Counts for the overview page as viewer may see them: their cases open and closed, the
    top open ones, all transactions and quarantined rows (counts only), recent ingest runs."""
    case_counts = visible_cases(viewer).aggregate(
        open_cases=Count("id", filter=~Q(status__in=FINISHED_CASE_STATUSES)),
        closed_cases=Count("id", filter=Q(status=CaseStatus.CLOSED)),
    )
    return {
        **case_counts,
        "transactions": Transaction.objects.count(),
        "quarantined_rows": QuarantinedRow.objects.count(),
        "top_cases": top_open_cases(visible_cases(viewer), limit=10),
        "runs": recent_ingest_runs(limit=10),
    }


def top_open_cases(cases, *, limit: int = 10):
    """Open cases of the given ones, highest priority first (ties: oldest first)."""
    return (
        cases.exclude(status__in=FINISHED_CASE_STATUSES)
        .order_by("-priority", "opened_at")
        .only(
            "id", "account_id", "status", "priority", "max_similarity_score", "worst_outcome",
            "amount_at_risk", "amount_reporting", "rate_missing", "currency", "transaction_count",
            "opened_at",
        )[:limit]
    )  # fmt: skip
