"""Offline IP enrichment against the shipped GeoLite2 City (2018) database."""

from __future__ import annotations

import shutil

import pytest

from cases.ips.places import (
    city_database_path,
    geo_databases_in_use,
    ip_kind,
    ips_enrich,
    parse_ip,
)
from cases.ips.selectors.ip import geo_source_info, ip_place, ip_places
from cases.models import IpEnrichment, IpKind

SHIPPED_EPOCH = 1530653216  # GeoLite2-City as of 2018-07-03, in maxminddb-geolite2 2018.703


@pytest.mark.parametrize(
    ("ip", "country_code", "country_name", "city"),
    [
        ("89.160.20.128", "SE", "Sweden", "Stockholm"),
        ("81.2.69.142", "GB", "United Kingdom", "Willesden"),
        ("193.0.6.139", "NL", "Netherlands", "Amsterdam"),
        ("175.16.199.0", "CN", "China", "Changchun"),
    ],
)
@pytest.mark.django_db
def test_public_ipv4_is_placed_from_the_shipped_database(ip, country_code, country_name, city):
    place = ip_place(ip)

    assert place.kind == "public"
    assert place.mappable is True
    assert (place.country_code, place.country_name, place.city) == (
        country_code,
        country_name,
        city,
    )
    assert place.latitude is not None and place.longitude is not None
    assert place.asn is None  # no ASN database configured: unknown, not guessed
    row = IpEnrichment.objects.get(ip=ip)
    assert row.city_database_epoch == SHIPPED_EPOCH


@pytest.mark.django_db
def test_ipv6_is_placed_and_stored_in_canonical_form():
    places = ip_places(["2001:4860:4860:0000:0000:0000:0000:8888", "2001:67c:2e8:22::c100:68b"])

    google = places["2001:4860:4860:0000:0000:0000:0000:8888"]
    assert google.ip == "2001:4860:4860::8888"
    assert (google.country_code, google.city, google.mappable) == ("US", "Mountain View", True)
    assert round(google.latitude, 2) == 37.42
    ripe = places["2001:67c:2e8:22::c100:68b"]
    assert (ripe.country_code, ripe.city) == ("NL", "Amsterdam")
    assert IpEnrichment.objects.filter(ip="2001:4860:4860::8888").count() == 1


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.10", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.1.1", "shared"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("192.0.2.44", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("2001:db8::42", "documentation"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("198.18.0.1", "reserved"),
        ("192.0.0.8", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
@pytest.mark.django_db
def test_special_ranges_are_labelled_and_never_mapped(ip, kind):
    place = ip_places([ip])[ip]

    assert place.kind == kind
    assert place.mappable is False
    assert (place.latitude, place.longitude, place.country_code, place.city) == (None, None, "", "")
    row = IpEnrichment.objects.get(ip=place.ip)
    assert (row.kind, row.latitude, row.longitude) == (kind, None, None)


def test_ip_kind_is_pure_and_maps_ipv4_mapped_addresses():
    assert ip_kind(parse_ip("::ffff:89.160.20.128")) == IpKind.PUBLIC
    assert ip_kind(parse_ip("8.8.8.8")) == IpKind.PUBLIC
    assert parse_ip("fe80::1%eth0") is None
    assert parse_ip("10.0.0.0/8") is None
    assert parse_ip("not-an-ip") is None


@pytest.mark.django_db
def test_text_that_is_no_ip_is_labelled_invalid_and_not_cached():
    places = ip_places(["999.1.1.1", "  ", "89.160.20.128"])

    assert places["999.1.1.1"].kind == "invalid"
    assert places["999.1.1.1"].mappable is False
    assert places["89.160.20.128"].mappable is True
    assert list(IpEnrichment.objects.values_list("ip", flat=True)) == ["89.160.20.128"]


@pytest.mark.django_db
def test_enrichment_is_cached_and_not_repeated():
    assert ips_enrich(["89.160.20.128", "10.0.0.1", "89.160.20.128"]) == 2
    assert ips_enrich(["89.160.20.128", "10.0.0.1"]) == 0
    assert IpEnrichment.objects.count() == 2


@pytest.mark.django_db
def test_cache_is_refreshed_when_the_database_build_changes(tmp_path, settings):
    # given a place cached from the shipped database
    ip_place("89.160.20.128")
    IpEnrichment.objects.filter(ip="89.160.20.128").update(city="Stale")
    assert ips_enrich(["89.160.20.128"]) == 0  # same database: the cache is trusted
    # when the operator points at a newer build (a copy with a later build epoch)
    newer = tmp_path / "GeoLite2-City-newer.mmdb"
    shutil.copyfile(city_database_path(), newer)
    _rewrite_build_epoch(newer, SHIPPED_EPOCH, SHIPPED_EPOCH + 86400)
    settings.FRAUDCASE_GEOIP_CITY_PATH = str(newer)

    place = ip_place("89.160.20.128")

    # then the stale row is looked up again and stamped with the new build
    assert place.city == "Stockholm"
    row = IpEnrichment.objects.get(ip="89.160.20.128")
    assert row.city_database_epoch == SHIPPED_EPOCH + 86400
    assert row.database_version == geo_databases_in_use().version
    assert str(newer) in row.database_version


@pytest.mark.django_db
def test_asn_is_unknown_without_an_asn_database_and_said_so(settings):
    settings.FRAUDCASE_GEOIP_ASN_PATH = ""
    info = geo_source_info()
    assert info.asn_known is False
    assert "ASN unknown" in info.asn_database
    assert "GeoLite2-City" in info.city_database


@pytest.mark.django_db
def test_an_unreadable_asn_database_is_reported_not_fatal(tmp_path, settings):
    broken = tmp_path / "asn.mmdb"
    broken.write_bytes(b"not a maxmind database")
    settings.FRAUDCASE_GEOIP_ASN_PATH = str(broken)

    place = ip_place("89.160.20.128")

    assert (place.city, place.asn) == ("Stockholm", None)
    assert "cannot be read" in geo_source_info().asn_database


def _rewrite_build_epoch(path, old: int, new: int) -> None:
    """Patch the uint32-sized build_epoch in the metadata section of an .mmdb file copy."""
    data = bytearray(path.read_bytes())
    meta_start = data.rfind(b"\xab\xcd\xefMaxMind.com")
    key_at = data.index(b"build_epoch", meta_start) + len(b"build_epoch")
    # control bytes 0x04 0x02: an extended type (uint64) of 4 bytes follows
    assert data[key_at : key_at + 2] == b"\x04\x02"
    assert int.from_bytes(data[key_at + 2 : key_at + 6], "big") == old
    data[key_at + 2 : key_at + 6] = new.to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.mark.django_db
def test_the_sweep_places_ips_of_transactions_and_curation_records_once():
    from cases.ips.places import ips_enrich_pending
    from cases.ips.tasks import sweep_ip_enrichment
    from cases.models import Case, CurationRecord, IngestRun, Transaction

    case = Case.objects.create(account_id="acc-sweep")
    Transaction.objects.create(
        transaction_id="tx-sweep", account_id="acc-sweep", occurred_at="2026-11-01T10:00:00Z",
        amount="1.00", currency="EUR", source_ip="193.0.6.139", similarity_score=0.5,
        model_version="m1", case=case,
    )  # fmt: skip
    run = IngestRun.objects.create(bucket="b", key="curation/s.jsonl", etag="e", kind="curation")
    CurationRecord.objects.create(
        dedupe_key="k", source_ip="2001:db8::7", ingest_run=run, source_row=1
    )

    assert ips_enrich_pending() == 2
    assert sweep_ip_enrichment.apply().get() == 0  # the task, run eagerly: nothing left
    assert dict(IpEnrichment.objects.values_list("ip", "kind")) == {
        "193.0.6.139": "public",
        "2001:db8::7": "documentation",
    }


def write_asn_database(path, networks: dict[str, tuple[int, str]]) -> str:
    """A GeoLite2-ASN-shaped database (no PyPI package ships a real one)."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for network, (number, organisation) in networks.items():
        writer.insert_network(
            IPSet([network]),
            {"autonomous_system_number": number, "autonomous_system_organization": organisation},
        )
    writer.to_db_file(str(path))
    return str(path)


@pytest.mark.django_db
def test_asn_and_organisation_come_from_the_configured_asn_database(tmp_path, settings):
    settings.FRAUDCASE_GEOIP_ASN_PATH = write_asn_database(
        tmp_path / "GeoLite2-ASN.mmdb",
        {"89.160.0.0/16": (29518, "Bredband2 AB"), "2001:67c:2e8::/48": (3333, "RIPE NCC")},
    )

    places = ip_places(["89.160.20.128", "2001:67c:2e8:22::c100:68b", "175.16.199.0", "10.0.0.1"])

    assert (places["89.160.20.128"].asn, places["89.160.20.128"].as_org) == (29518, "Bredband2 AB")
    assert places["89.160.20.128"].city == "Stockholm"  # the City database still answers
    assert places["2001:67c:2e8:22::c100:68b"].asn == 3333
    assert (places["175.16.199.0"].asn, places["175.16.199.0"].as_org) == (None, "")
    assert places["10.0.0.1"].asn is None  # private: never looked up
    info = geo_source_info()
    assert info.asn_known is True and info.asn_database.startswith("GeoLite2-ASN (built ")


@pytest.mark.django_db
def test_cache_is_refreshed_when_the_asn_database_is_replaced(tmp_path, settings):
    first = write_asn_database(tmp_path / "asn-1.mmdb", {"89.160.0.0/16": (1, "Old Org")})
    settings.FRAUDCASE_GEOIP_ASN_PATH = first
    assert ip_place("89.160.20.128").as_org == "Old Org"

    settings.FRAUDCASE_GEOIP_ASN_PATH = write_asn_database(
        tmp_path / "asn-2.mmdb", {"89.160.0.0/16": (29518, "Bredband2 AB")}
    )

    assert ip_place("89.160.20.128").as_org == "Bredband2 AB"
    assert IpEnrichment.objects.get(ip="89.160.20.128").asn == 29518
