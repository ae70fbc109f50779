"""The IP map's data: aggregation per IP in a time range, filters, the cap, and addresses that
are never placed (private, documentation...)."""

import csv
import io
import json
import re
from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache

from analytics.selectors import IpMapFilters, ip_map, ip_map_kept
from cases.models import Case
from cases.tests.link_fixtures import analyst_of_every_case, tx


@pytest.fixture(autouse=True)
def no_map_from_an_earlier_test():
    cache.clear()  # the map is cached per filter set, in this process (and its live server)


pytestmark = pytest.mark.django_db

NOVEMBER = IpMapFilters(since=date(2026, 11, 1), until=date(2026, 11, 30))
XSS_ACCOUNT = "<img src=x onerror=alert(1)>"


@pytest.fixture
def seen_ips():
    tx("us-1", ip="8.8.8.8", label="fraud")
    tx("us-2", ip="8.8.8.8", label="legitimate")
    tx("us-2", ip="8.8.8.8")
    tx(XSS_ACCOUNT, ip="8.8.8.8")
    tx("gb-1", ip="81.2.69.142", score=0.9)
    tx("gb-1", ip="81.2.69.142", score=0.5)
    tx("se-1", ip="89.160.20.128", country="SE", outcome="block")
    closed = Case.objects.create(account_id="closed-1", status="closed")
    tx("closed-1", ip="89.160.20.128", case=closed)
    tx("lan-1", ip="10.0.0.1")
    tx("lan-2", ip="10.0.0.1")
    tx("lan-3", ip="192.168.1.1")
    tx("doc-1", ip="2001:db8::1")
    tx("old-1", ip="5.9.1.1", occurred_at=datetime(2026, 9, 1, tzinfo=UTC))  # out of range
    tx("no-ip", ip=None)


def test_points_are_the_public_ips_of_the_range_busiest_first(seen_ips):
    result = ip_map(NOVEMBER)

    assert [p.ip for p in result.points] == ["8.8.8.8", "81.2.69.142", "89.160.20.128"]
    google = result.points[0]
    assert (google.transactions, google.fraud, google.labelled, google.fraud_rate) == (4, 1, 2, 0.5)
    assert (google.accounts, google.cases, google.open_cases) == (3, 3, 3)
    assert google.sample_accounts == [XSS_ACCOUNT, "us-1", "us-2"]
    assert google.place.endswith("United States") and google.latitude is not None
    sweden = result.points[2]
    assert (sweden.accounts, sweden.cases, sweden.open_cases, sweden.fraud_rate) == (2, 2, 1, None)
    assert (result.public_ips, result.public_transactions, result.capped) == (3, 8, False)


def test_private_and_documentation_addresses_are_counted_apart_never_placed(seen_ips):
    result = ip_map(NOVEMBER)

    assert (result.special_ips, result.special_transactions, result.unplaced_ips) == (3, 4, 3)
    assert [p.ip for p in result.unplaced] == ["10.0.0.1", "192.168.1.1", "2001:db8::1"]
    assert {p.kind for p in result.unplaced} == {"private", "documentation"}
    assert all(p.latitude is None for p in result.unplaced)
    assert len(result.chart_data()["points"]) == 3


def test_the_cap_keeps_the_busiest_and_says_so(seen_ips):
    result = ip_map(NOVEMBER, max_points=2)

    assert [p.ip for p in result.points] == ["8.8.8.8", "81.2.69.142"]
    assert result.capped and result.public_ips == 3


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"score_min": 0.85}, ["81.2.69.142"]),
        ({"country": "SE"}, ["89.160.20.128"]),
        ({"outcome": "block"}, ["89.160.20.128"]),
        ({"since": date(2026, 9, 1), "until": date(2026, 9, 30)}, ["5.9.1.1"]),
    ],
)
def test_filters(seen_ips, change, expected):
    filters = IpMapFilters(**{**NOVEMBER.__dict__, **change})
    assert [p.ip for p in ip_map(filters).points] == expected


def test_the_page_gives_the_points_to_the_map_and_escapes_account_ids(client, seen_ips):
    client.force_login(analyst_of_every_case())

    response = client.get("/analytics/ip-map/?since=2026-11-01&until=2026-11-30")

    html = response.content.decode()
    assert response.status_code == 200
    data = json.loads(
        re.search(r'id="ip-map-data" type="application/json">(.*?)</script>', html).group(1)
    )
    assert [p["ip"] for p in data["points"]] == ["8.8.8.8", "81.2.69.142", "89.160.20.128"]
    assert data["points"][0]["sample_accounts"][0] == XSS_ACCOUNT
    assert XSS_ACCOUNT not in html  # json_script escapes < and >
    assert 'data-points="3"' in html
    assert re.search(r'id="ip-unplaced".*10\.0\.0\.1.*192\.168\.1\.1', html, re.S)
    assert '<a href="/accounts/lan-1/">lan-1</a>' in html  # ids are links
    assert data["points"][0]["url"].endswith("/ips/8.8.8.8/")


def test_the_page_has_quick_picks_keeping_the_filters_and_a_csv_of_its_table(client, seen_ips):
    client.force_login(analyst_of_every_case())
    url = "/analytics/ip-map/?since=2026-11-01&until=2026-11-30&outcome=investigate"

    html = client.get(url).content.decode()
    download = client.get(url + "&csv=ip-map-points").content.decode()

    picks = re.search(r'id="ip-map-picks">(.*?)</p>', html, re.S).group(1)
    assert "?since=2026-11-24&amp;until=2026-11-30&amp;outcome=investigate" in picks  # 7 days
    assert 'aria-current="true">30 days' in picks
    assert download.splitlines()[0].startswith("IP,place,ASN,transactions,labelled,fraud")
    # The outcome filter holds: 89.160.20.128's blocked transaction is left out.
    rows = list(csv.reader(io.StringIO(download)))[1:]
    assert [[row[0], row[3]] for row in rows] == [
        ["8.8.8.8", "4"], ["81.2.69.142", "2"], ["89.160.20.128", "1"],
    ]  # fmt: skip
    assert XSS_ACCOUNT not in download  # counts only: no sample accounts


def test_bad_filters_are_refused_with_the_reason(client, seen_ips):
    client.force_login(analyst_of_every_case())

    response = client.get("/analytics/ip-map/?score_min=2&country=Germany")

    assert response.status_code == 400
    html = response.content.decode()
    assert "Two letters (ISO 3166)" in html
    assert "less than or equal to 1" in html


def test_signed_out_users_go_to_the_login_page(client):
    response = client.get("/analytics/ip-map/")
    assert response.status_code == 302 and "/auth/login/" in response["Location"]


def test_a_filter_set_is_computed_once_then_kept(seen_ips, settings):
    settings.FRAUDCASE_IP_MAP_CACHE_SECONDS = 60
    first = ip_map(NOVEMBER)
    tx("late", ip="77.88.55.60")

    again = ip_map(NOVEMBER)
    other = ip_map(IpMapFilters(**{**NOVEMBER.__dict__, "outcome": "block"}))

    assert (first.from_cache, again.from_cache, other.from_cache) == (False, True, False)
    assert len(again.points) == 3 and again.computed_at == first.computed_at
    settings.FRAUDCASE_IP_MAP_CACHE_SECONDS = 0
    assert len(ip_map(NOVEMBER).points) == 4


def test_special_purpose_ranges_are_told_from_public_neighbours():
    special = ["239.1.2.3", "100.64.1.1", "127.0.0.1", "172.20.0.1", "::1", "fe80::1"]
    public = ["11.0.0.1", "100.63.255.255", "172.32.0.1", "223.255.255.1", "2a02:6b8::1"]
    for number, ip in enumerate(special + public):
        tx(f"acc-{number}", ip=ip)

    result = ip_map(NOVEMBER)

    assert sorted(p.ip for p in result.unplaced if p.kind != "public") == sorted(special)
    assert result.special_ips == len(special) and result.public_ips == len(public)
    shown = {p.ip for p in result.points} | {p.ip for p in result.unplaced if p.kind == "public"}
    assert shown == set(public)


def test_recompute_refreshes_the_kept_view(seen_ips, settings):
    settings.FRAUDCASE_IP_MAP_CACHE_SECONDS = 60
    ip_map(NOVEMBER)
    tx("late", ip="77.88.55.60")

    fresh = ip_map(NOVEMBER, recompute=True)
    kept = ip_map(NOVEMBER)

    assert (fresh.from_cache, len(fresh.points)) == (False, 4)
    assert (kept.from_cache, len(kept.points)) == (True, 4)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beat_warms_the_default_view_in_the_cache_every_process_shares(
    celery_worker_factory, settings
):
    """A real worker computes the default view; this process then finds it in Redis."""
    from django.utils import timezone

    from analytics.tasks import warm_ip_map
    from conftest import wait_until

    settings.FRAUDCASE_IP_MAP_CACHE_SECONDS = 300
    now = timezone.now()
    for account, ip in (("w-1", "8.8.8.8"), ("w-2", "8.8.8.8"), ("w-3", "81.2.69.142")):
        tx(account, ip=ip, occurred_at=now)
    default = IpMapFilters.default()
    assert ip_map_kept(default) is None
    worker = celery_worker_factory()

    warm_ip_map.delay()

    warmed = wait_until(
        lambda: ip_map_kept(default), timeout=60,
        message=lambda: f"the warmed map; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert [(point.ip, point.transactions) for point in warmed.points] == [
        ("8.8.8.8", 2), ("81.2.69.142", 1),
    ]  # fmt: skip
    assert ip_map(default).from_cache is True
