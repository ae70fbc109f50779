"""Offline IP enrichment: label an address's range, place public ones with MaxMind databases.

The City database defaults to the GeoLite2 City (2018) that maxminddb-geolite2 ships, so it
works with no internet; FRAUDCASE_GEOIP_CITY_PATH points at a current licensed file instead.
No PyPI package ships an ASN database, so ASN/organisation need FRAUDCASE_GEOIP_ASN_PATH
(a GeoLite2-ASN or GeoIP2-ISP file); without it they stay unknown.

Answers are cached per IP in IpEnrichment, stamped with the databases they came from; a row
stamped with other databases than those configured now is refreshed on the next enrichment.
The cache is derived data recomputable at any time, so its writes are not audited.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import maxminddb
from django.conf import settings
from django.utils import timezone

from cases.ips.ipaddr import IpAddress, canonical_ip, ip_kind, lookup_address, parse_ip
from cases.models import IpEnrichment, IpKind

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000

# --- the databases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeoDatabase:
    path: str
    database_type: str
    build_epoch: int

    @property
    def version(self) -> str:
        return f"{self.database_type}@{self.build_epoch}:{self.path}"


@dataclass(frozen=True, slots=True)
class GeoDatabases:
    city: GeoDatabase | None
    asn: GeoDatabase | None
    city_error: str = ""
    asn_error: str = ""

    @property
    def version(self) -> str:
        """Names both databases: a change of either makes the cached rows stale."""
        city = self.city.version if self.city else "no-city"
        asn = self.asn.version if self.asn else "no-asn"
        return f"city={city}|asn={asn}"[:512]


def city_database_path() -> str:
    configured = settings.FRAUDCASE_GEOIP_CITY_PATH
    if configured:
        return configured
    from geolite2 import geolite2_database  # maxminddb-geolite2: the offline 2018 default

    return geolite2_database()


_readers: dict[tuple[str, int, int], maxminddb.Reader] = {}
_readers_lock = threading.Lock()


def _reader(path: str) -> maxminddb.Reader:
    """One open reader per file version; a file replaced in place is opened again."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    with _readers_lock:
        reader = _readers.get(key)
        if reader is None:
            for old_key in [k for k in _readers if k[0] == key[0]]:
                _readers.pop(old_key).close()
            reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
            _readers[key] = reader
        return reader


def _open(path: str) -> tuple[GeoDatabase | None, maxminddb.Reader | None, str]:
    try:
        reader = _reader(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        logger.warning("GeoIP database %s cannot be read: %s", path, exc)
        return None, None, f"{path} cannot be read: {exc}"
    metadata = reader.metadata()
    return GeoDatabase(path, metadata.database_type, int(metadata.build_epoch)), reader, ""


def geo_databases() -> tuple[GeoDatabases, maxminddb.Reader | None, maxminddb.Reader | None]:
    city, city_reader, city_error = _open(city_database_path())
    asn = asn_reader = None
    asn_error = ""
    if settings.FRAUDCASE_GEOIP_ASN_PATH:
        asn, asn_reader, asn_error = _open(settings.FRAUDCASE_GEOIP_ASN_PATH)
    return GeoDatabases(city, asn, city_error, asn_error), city_reader, asn_reader


def geo_databases_in_use() -> GeoDatabases:
    """Which databases enrichment uses now (for pages that say where places come from)."""
    return geo_databases()[0]


# --- enrichment ---------------------------------------------------------------------------


def _english(record: dict | None) -> str:
    if not record:
        return ""
    return str(record.get("names", {}).get("en", ""))


def _enrichment(address: IpAddress, databases: GeoDatabases, city_reader, asn_reader, now):
    kind = ip_kind(address)
    row = IpEnrichment(
        ip=canonical_ip(address),
        kind=kind,
        city_database_epoch=databases.city.build_epoch if databases.city else None,
        database_version=databases.version,
        enriched_at=now,
    )
    if kind != IpKind.PUBLIC:
        return row  # never placed: a private or special range says nothing about a location
    lookup = lookup_address(address)
    if city_reader is not None:
        place = city_reader.get(lookup) or {}
        country = place.get("country") or place.get("registered_country") or {}
        row.country_code = str(country.get("iso_code", ""))[:2]
        row.country_name = _english(country)[:128]
        row.city = _english(place.get("city"))[:128]
        location = place.get("location") or {}
        if location.get("latitude") is not None and location.get("longitude") is not None:
            row.latitude = float(location["latitude"])
            row.longitude = float(location["longitude"])
            row.accuracy_radius_km = location.get("accuracy_radius")
    if asn_reader is not None:
        network = asn_reader.get(lookup) or {}
        number = network.get("autonomous_system_number")
        row.asn = int(number) if number is not None else None
        row.as_org = str(network.get("autonomous_system_organization", ""))[:255]
    return row


UPDATED_FIELDS = [
    "kind", "country_code", "country_name", "city", "latitude", "longitude",
    "accuracy_radius_km", "asn", "as_org", "city_database_epoch", "database_version",
    "enriched_at",
]  # fmt: skip


def ips_enrich(ips: Iterable[str], *, force: bool = False) -> int:
    """Enrich the given IPs that are not cached yet, or cached from other databases.

    Text that is not an IP address is skipped. Safe to run concurrently and repeatedly (an
    upsert on the IP). Returns how many cache rows were written.
    """
    return ip_enrichments(ips, force=force)[1]


def ip_enrichments(
    ips: Iterable[str], *, force: bool = False
) -> tuple[dict[str, IpEnrichment], int]:
    """The current cache row of each IP (by canonical text), enriching the missing and stale
    ones first; and how many rows were written. One read per 2,000 IPs, plus one upsert when
    some were missing or stale."""
    addresses: dict[str, IpAddress] = {}
    for text in ips:
        address = parse_ip(text)
        if address is not None:
            addresses.setdefault(canonical_ip(address), address)
    if not addresses:
        return {}, 0
    databases, city_reader, asn_reader = geo_databases()
    version = databases.version
    current: dict[str, IpEnrichment] = {}
    written = 0
    keys = list(addresses)
    for start in range(0, len(keys), BATCH_SIZE):
        batch = keys[start : start + BATCH_SIZE]
        if not force:
            for row in IpEnrichment.objects.filter(ip__in=batch, database_version=version):
                current[canonical_ip(parse_ip(row.ip))] = row
        now = timezone.now()
        rows = [
            _enrichment(addresses[ip], databases, city_reader, asn_reader, now)
            for ip in batch
            if ip not in current
        ]
        if rows:
            IpEnrichment.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["ip"], update_fields=UPDATED_FIELDS
            )
            written += len(rows)
            current.update((row.ip, row) for row in rows)
    return current, written


def ips_enrich_pending(*, limit: int = 50_000) -> int:
    """The sweep: enrich source IPs of transactions and curation records not cached from the
    current databases (new ones, and ones placed by an older database). Returns rows written.
    """
    from cases.models import CurationRecord, Transaction

    version = geo_databases_in_use().version
    current = IpEnrichment.objects.filter(database_version=version).values("ip")
    pending: set[str] = set()
    for model in (Transaction, CurationRecord):
        pending.update(
            model.objects.exclude(source_ip__isnull=True)
            .exclude(source_ip__in=current)
            .values_list("source_ip", flat=True)
            .distinct()[:limit]
        )
        if len(pending) >= limit:
            break
    return ips_enrich(sorted(pending)[:limit])
