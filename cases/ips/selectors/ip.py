"""Reads about source IPs: where they are (cached enrichment) and who used them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max, Min, Q

from cases.ips.geo import GeoPoint, TravelLeg, travel_leg
from cases.ips.ipaddr import canonical_ip, parse_ip
from cases.ips.map_view import map_view
from cases.ips.places import geo_databases_in_use, ip_enrichments
from cases.models import Case, CurationRecord, IpEnrichment, IpKind, Label, Transaction
from cases.policies import sees_every_case, visible_cases, visible_transactions

INVALID_KIND = "invalid"


@dataclass(frozen=True, slots=True)
class IpPlace:
    """Where an IP is, as far as the GeoIP databases know.

    kind is an IpKind value ("public", "private", "loopback", "reserved", "documentation",
    "link_local", "multicast", "shared", "unspecified") or "invalid" for text that is no IP.
    mappable is True only for a public address with coordinates. asn None means unknown (no
    ASN database configured, or the address is not in it).
    """

    ip: str
    kind: str
    mappable: bool
    country_code: str = ""
    country_name: str = ""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    asn: int | None = None
    as_org: str = ""
    accuracy_radius_km: int | None = None

    @property
    def kind_label(self) -> str:
        if self.kind == INVALID_KIND:
            return "Not an IP address"
        return IpKind(self.kind).label

    @property
    def place_label(self) -> str:
        """A label like "Stockholm, Sweden" or "Sweden", or what the address is if unplaced."""
        if self.kind != IpKind.PUBLIC:
            return self.kind_label
        parts = [part for part in (self.city, self.country_name or self.country_code) if part]
        return ", ".join(parts) or "Unknown place"


def _place(row: IpEnrichment) -> IpPlace:
    mappable = row.kind == IpKind.PUBLIC and row.latitude is not None and row.longitude is not None
    return IpPlace(
        ip=row.ip,
        kind=row.kind,
        mappable=mappable,
        country_code=row.country_code,
        country_name=row.country_name,
        city=row.city,
        latitude=row.latitude if mappable else None,
        longitude=row.longitude if mappable else None,
        asn=row.asn,
        as_org=row.as_org,
        accuracy_radius_km=row.accuracy_radius_km if mappable else None,
    )


def ip_places(ips: Iterable[str]) -> dict[str, IpPlace]:
    """A place for each given IP, keyed by the text as given (stripped).

    IPs not cached yet, or cached from other databases than those configured now, are enriched
    and cached first. Text that is not an IP gets kind "invalid" and is never mappable.
    """
    canonical_by_text: dict[str, str | None] = {}
    for text in ips:
        if text is None:
            continue
        key = str(text).strip()
        if key in canonical_by_text:
            continue
        address = parse_ip(key)
        canonical_by_text[key] = canonical_ip(address) if address is not None else None
    canonical = sorted({ip for ip in canonical_by_text.values() if ip is not None})
    rows, _ = ip_enrichments(canonical)  # only the missing and stale ones are looked up
    places: dict[str, IpPlace] = {}
    for text, ip in canonical_by_text.items():
        row = rows.get(ip) if ip is not None else None
        if row is None:
            places[text] = IpPlace(ip=text, kind=INVALID_KIND, mappable=False)
        else:
            places[text] = _place(row)
    return places


def ip_place(ip: str) -> IpPlace:
    return ip_places([ip])[str(ip).strip()]


@dataclass(frozen=True, slots=True)
class GeoSourceInfo:
    city_database: str
    asn_database: str
    asn_known: bool


def geo_source_info() -> GeoSourceInfo:
    """Plain words on where places and ASNs come from, for the pages' footnotes."""
    databases = geo_databases_in_use()
    if databases.city:
        city = f"{databases.city.database_type} (built {_epoch_date(databases.city.build_epoch)})"
    else:
        city = f"no City database: {databases.city_error}"
    if databases.asn:
        asn = f"{databases.asn.database_type} (built {_epoch_date(databases.asn.build_epoch)})"
    elif databases.asn_error:
        asn = f"ASN unknown: {databases.asn_error}"
    else:
        asn = "ASN unknown: no ASN database configured (set FRAUDCASE_GEOIP_ASN_PATH)"
    return GeoSourceInfo(city_database=city, asn_database=asn, asn_known=databases.asn is not None)


def _epoch_date(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()


# --- the case page's map and impossible travel ----------------------------------------------

CASE_MAP_TRANSACTION_LIMIT = 500


@dataclass(frozen=True, slots=True)
class MapPoint:
    transaction_id: str
    occurred_at: datetime
    ip: str
    place: IpPlace


@dataclass(frozen=True, slots=True)
class MapLeg:
    start: MapPoint
    end: MapPoint
    leg: TravelLeg


@dataclass(frozen=True, slots=True)
class CaseIpMap:
    points: list[MapPoint]  # the case's transactions with a source IP, oldest first
    legs: list[MapLeg]  # between consecutive placed transactions
    ips: list[IpPlace]  # each distinct IP once, in order of first use
    max_kmh: float
    truncated: bool  # more transactions than CASE_MAP_TRANSACTION_LIMIT: the latest are shown

    @property
    def impossible_legs(self) -> list[MapLeg]:
        return [leg for leg in self.legs if leg.leg.impossible]

    @property
    def unplaced_ips(self) -> list[IpPlace]:
        return [place for place in self.ips if not place.mappable]

    def chart_json(self) -> str:
        """chart_data as JSON text, for an autoescaped data attribute."""
        return json.dumps(self.chart_data())

    def chart_data(self) -> dict:
        """Plain data for the map script."""
        placed = [point for point in self.points if point.place.mappable]
        return {
            "points": [
                {
                    "tx": point.transaction_id,
                    "t": point.occurred_at.isoformat(),
                    "ip": point.ip,
                    "place": point.place.place_label,
                    "lat": point.place.latitude,
                    "lon": point.place.longitude,
                }
                for point in placed
            ],
            "impossible": [
                {
                    "from": [leg.start.place.latitude, leg.start.place.longitude],
                    "to": [leg.end.place.latitude, leg.end.place.longitude],
                }
                for leg in self.impossible_legs
            ],
            "view": map_view((point.place.latitude, point.place.longitude) for point in placed),
        }


def case_ip_map(case, *, max_kmh: float | None = None) -> CaseIpMap:
    """The case's transactions placed by source IP, oldest first, and the trips between them.

    Consecutive placed transactions form legs (transactions without a place are stepped over:
    they say nothing about where the account was); a leg faster than max_kmh (default the
    FRAUDCASE_IMPOSSIBLE_TRAVEL_KMH setting) is impossible travel. At most
    CASE_MAP_TRANSACTION_LIMIT transactions (the latest) are read.
    """
    max_kmh = settings.FRAUDCASE_IMPOSSIBLE_TRAVEL_KMH if max_kmh is None else max_kmh
    rows = list(
        case.transactions.exclude(source_ip__isnull=True)
        .order_by("-occurred_at", "-id")
        .values_list("transaction_id", "occurred_at", "source_ip")[: CASE_MAP_TRANSACTION_LIMIT + 1]
    )
    truncated = len(rows) > CASE_MAP_TRANSACTION_LIMIT  # one more than shown: no count query
    rows = rows[:CASE_MAP_TRANSACTION_LIMIT]
    rows.reverse()
    places = ip_places(ip for _, _, ip in rows)
    points = [
        MapPoint(transaction_id=tx_id, occurred_at=at, ip=ip, place=places[ip])
        for tx_id, at, ip in rows
    ]
    legs = []
    previous = None
    for point in points:
        if not point.place.mappable:
            continue
        if previous is not None:
            leg = travel_leg(_geo_point(previous), _geo_point(point), max_kmh=max_kmh)
            if leg is not None:
                legs.append(MapLeg(previous, point, leg))
        previous = point
    distinct = list(dict.fromkeys(point.ip for point in points))
    return CaseIpMap(
        points=points,
        legs=legs,
        ips=[places[ip] for ip in distinct],
        max_kmh=max_kmh,
        truncated=truncated,
    )


def _geo_point(point: MapPoint) -> GeoPoint:
    return GeoPoint(
        latitude=point.place.latitude,
        longitude=point.place.longitude,
        at=point.occurred_at,
        accuracy_radius_km=point.place.accuracy_radius_km,
    )


# --- the IP page --------------------------------------------------------------------------

IP_PAGE_LIST_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Counted:
    """A capped list and the full count behind it."""

    items: list
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.items)


@dataclass(frozen=True, slots=True)
class IpUsage:
    place: IpPlace
    first_seen: datetime | None
    last_seen: datetime | None
    accounts: Counted  # (account_id, transactions, curation records)
    devices: Counted  # (device_id, transactions)
    transactions: Counted  # Transaction rows, latest first
    cases: Counted  # Case rows, latest activity first
    label_counts: dict[str, int]  # fraud, legitimate, unlabelled
    curation_records: Counted  # CurationRecord rows, latest first
    user_agents: Counted  # (user agent, records)
    # Per list, the uses in cases the viewer may not read: shown as counts only.
    hidden: dict[str, int] = field(default_factory=dict)

    def chart_json(self) -> str:
        return json.dumps(self.chart_data())

    def chart_data(self) -> dict:
        if not self.place.mappable:
            return {"points": [], "impossible": [], "view": None}
        return {
            "view": map_view([(self.place.latitude, self.place.longitude)]),
            "points": [
                {
                    "ip": self.place.ip,
                    "place": self.place.place_label,
                    "lat": self.place.latitude,
                    "lon": self.place.longitude,
                }
            ],
            "impossible": [],
        }


def _most_used(rows, field: str) -> list[tuple[str, int]]:
    """(value, rows) for each non-empty value of field, most rows first, ties by value."""
    return list(
        rows.exclude(**{field: ""})
        .values(field)
        .annotate(n=Count("id"))
        .order_by("-n", field)
        .values_list(field, "n")
    )


def ip_usage(ip: str, *, viewer, limit: int = IP_PAGE_LIST_LIMIT) -> IpUsage | None:
    """Everything known about one IP: its place and who used it (lists capped at limit, with
    full counts). None when the text is not an IP address.

    Accounts, devices, transactions, cases and curation records of cases the viewer may not
    read (cases.policies) are left out of the lists and counted in `hidden`; the span, label
    counts and user agents cover every use.
    """
    address = parse_ip(ip)
    if address is None:
        return None
    canonical = canonical_ip(address)
    place = ip_places([canonical])[canonical]
    every_transaction = Transaction.objects.filter(source_ip=canonical)
    every_record = CurationRecord.objects.filter(source_ip=canonical)
    transactions = visible_transactions(viewer, every_transaction)
    curation = every_record
    if not sees_every_case(viewer):
        readable_accounts = visible_cases(viewer).values("account_id")
        curation = every_record.filter(Q(account_id="") | Q(account_id__in=readable_accounts))

    tx_span = every_transaction.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    cur_span = every_record.aggregate(first=Min("observed_at"), last=Max("observed_at"))
    firsts = [moment for moment in (tx_span["first"], cur_span["first"]) if moment]
    lasts = [moment for moment in (tx_span["last"], cur_span["last"]) if moment]

    tx_by_account = dict(
        transactions.values("account_id").annotate(n=Count("id")).values_list("account_id", "n")
    )
    cur_by_account = dict(
        curation.exclude(account_id="")
        .values("account_id")
        .annotate(n=Count("id"))
        .values_list("account_id", "n")
    )
    accounts = sorted(
        (
            (account, tx_by_account.get(account, 0), cur_by_account.get(account, 0))
            for account in set(tx_by_account) | set(cur_by_account)
        ),
        key=lambda row: (-(row[1] + row[2]), row[0]),
    )
    devices = _most_used(transactions, "device_id")
    cases = visible_cases(viewer, Case.objects.filter(pk__in=every_transaction.values("case_id")))
    labels = dict(
        every_transaction.values("label").annotate(n=Count("id")).values_list("label", "n")
    )
    user_agents = _most_used(every_record, "user_agent")
    usage = IpUsage(
        place=place,
        first_seen=min(firsts) if firsts else None,
        last_seen=max(lasts) if lasts else None,
        accounts=Counted(accounts[:limit], len(accounts)),
        devices=Counted(devices[:limit], len(devices)),
        transactions=Counted(
            list(
                transactions.defer("embedding", "features")
                .select_related("case")
                .order_by("-occurred_at", "-id")[:limit]
            ),
            transactions.count(),
        ),
        cases=Counted(list(cases.order_by("-pk")[:limit]), cases.count()),
        label_counts={
            "fraud": labels.get(Label.FRAUD, 0),
            "legitimate": labels.get(Label.LEGITIMATE, 0),
            "unlabelled": labels.get("", 0),
        },
        curation_records=Counted(
            list(curation.order_by("-observed_at", "-pk")[:limit]), curation.count()
        ),
        user_agents=Counted(user_agents[:limit], len(user_agents)),
    )
    if not sees_every_case(viewer):
        usage = replace(usage, hidden=_hidden_uses(usage, every_transaction, every_record))
    return usage


def _hidden_uses(usage: IpUsage, every_transaction, every_record) -> dict[str, int]:
    """How many of each list the viewer was not shown (other queues' cases), as counts."""
    all_cases = every_transaction.values("case_id").distinct().count()
    all_accounts = len(
        set(every_transaction.values_list("account_id", flat=True).distinct())
        | set(every_record.exclude(account_id="").values_list("account_id", flat=True).distinct())
    )
    return {
        "cases": all_cases - usage.cases.total,
        "accounts": all_accounts - usage.accounts.total,
        "transactions": every_transaction.count() - usage.transactions.total,
        "curation_records": every_record.count() - usage.curation_records.total,
    }
