"""Impossible-travel maths, the case page's IP map and the IP page (test client and browser)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from cases.ips.geo import GeoPoint, haversine_km, travel_leg
from cases.ips.selectors.ip import case_ip_map, ip_usage
from cases.models import AuditAction, AuditEvent, Case, CurationRecord, IngestRun, Transaction
from cases.tests.workflow_fixtures import make_queue, make_user
from conftest import client_for, sign_in_browser

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STOCKHOLM = "89.160.20.128"  # GeoLite2 2018: Stockholm, SE, radius 200 km
CHANGCHUN = "175.16.199.0"  # Changchun, CN, radius 50 km
AMSTERDAM = "193.0.6.139"  # Amsterdam, NL, radius 10 km
HOSTILE = '<script>alert("x")</script>'


# --- the maths (pure) ---------------------------------------------------------------------


def test_haversine_gives_known_distances():
    assert haversine_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343.6, abs=1)
    assert haversine_km(51.5074, -0.1278, 40.7128, -74.0060) == pytest.approx(5570, abs=5)
    assert haversine_km(10, 20, 10, 20) == 0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(20015, abs=1)


def london(at, radius=None):
    return GeoPoint(51.5074, -0.1278, at, radius)


def new_york(at, radius=None):
    return GeoPoint(40.7128, -74.0060, at, radius)


def test_a_transatlantic_hop_in_an_hour_is_impossible_in_ten_it_is_not():
    fast = travel_leg(london(T0), new_york(T0 + timedelta(hours=1)), max_kmh=900)
    slow = travel_leg(london(T0), new_york(T0 + timedelta(hours=10)), max_kmh=900)

    assert fast.impossible is True
    assert fast.speed_kmh == pytest.approx(5570, abs=5)
    assert slow.impossible is False
    assert slow.speed_kmh == pytest.approx(557, abs=1)
    assert slow.hours == 10


def test_order_of_the_two_transactions_does_not_matter():
    backwards = travel_leg(london(T0 + timedelta(hours=1)), new_york(T0), max_kmh=900)
    assert backwards.hours == 1 and backwards.impossible is True


def test_zero_time_apart_is_impossible_only_when_the_places_differ():
    apart = travel_leg(london(T0), new_york(T0), max_kmh=900)
    together = travel_leg(london(T0), london(T0), max_kmh=900)

    assert (apart.hours, apart.speed_kmh, apart.impossible) == (0, None, True)
    assert (together.distance_km, together.speed_kmh, together.impossible) == (0, None, False)


def test_missing_coordinates_give_no_leg():
    nowhere = GeoPoint(None, None, T0 + timedelta(hours=1))
    assert travel_leg(london(T0), nowhere, max_kmh=900) is None
    assert travel_leg(nowhere, london(T0), max_kmh=900) is None
    assert travel_leg(GeoPoint(51.0, None, T0), london(T0), max_kmh=900) is None


def test_accuracy_radii_come_off_the_distance_before_judging():
    # London to Paris (344 km) in 10 minutes is 2000 km/h between the centres...
    paris = GeoPoint(48.8566, 2.3522, T0 + timedelta(minutes=10), 200)
    wide = travel_leg(london(T0, 200), paris, max_kmh=900)
    # ...but both places are only known within 200 km: they may be 0 km apart.
    assert wide.distance_km == pytest.approx(343.6, abs=1)
    assert wide.min_distance_km == 0
    assert wide.impossible is False
    narrow = travel_leg(london(T0, 5), GeoPoint(48.8566, 2.3522, paris.at, 5), max_kmh=900)
    assert narrow.min_distance_km == pytest.approx(333.6, abs=1)
    assert narrow.impossible is True


def test_the_threshold_is_a_setting_and_an_argument():
    leg = travel_leg(london(T0), new_york(T0 + timedelta(hours=10)), max_kmh=500)
    assert leg.impossible is True


# --- data ---------------------------------------------------------------------------------


def add_transaction(case: Case, suffix: str, at: datetime, ip: str | None, **fields) -> Transaction:
    return Transaction.objects.create(
        transaction_id=f"{case.account_id}-{suffix}", account_id=case.account_id, occurred_at=at,
        amount=Decimal("10.00"), currency="EUR", source_ip=ip,
        device_id=fields.pop("device_id", f"dev-{case.account_id}"), similarity_score=0.8,
        model_version="m1", case=case, **fields,
    )  # fmt: skip


@pytest.fixture
def travelling_case(db):
    """Stockholm, then a private IP, then Changchun 30 minutes after Stockholm, then Amsterdam
    a day later: one impossible trip (the private IP in between says nothing)."""
    queue = make_queue("General", is_default=True)
    case = Case.objects.create(account_id="acc-travel", queue=queue)
    add_transaction(case, "1", T0, STOCKHOLM)
    add_transaction(case, "2", T0 + timedelta(minutes=10), "10.1.2.3")
    add_transaction(case, "3", T0 + timedelta(minutes=30), CHANGCHUN, label="fraud")
    add_transaction(case, "4", T0 + timedelta(days=1), AMSTERDAM)
    add_transaction(case, "5", T0 + timedelta(days=2), None)
    return case


@pytest.mark.django_db
def test_case_ip_map_joins_placed_transactions_and_flags_the_impossible_trip(travelling_case):
    ip_map = case_ip_map(travelling_case)

    assert [point.ip for point in ip_map.points] == [STOCKHOLM, "10.1.2.3", CHANGCHUN, AMSTERDAM]
    assert [place.ip for place in ip_map.ips] == [STOCKHOLM, "10.1.2.3", CHANGCHUN, AMSTERDAM]
    assert [place.kind for place in ip_map.unplaced_ips] == ["private"]
    assert [(leg.start.ip, leg.end.ip) for leg in ip_map.legs] == [
        (STOCKHOLM, CHANGCHUN),
        (CHANGCHUN, AMSTERDAM),
    ]
    [impossible] = ip_map.impossible_legs
    assert (impossible.start.ip, impossible.end.ip) == (STOCKHOLM, CHANGCHUN)
    assert impossible.leg.hours == 0.5
    assert impossible.leg.min_distance_km > 6000
    data = ip_map.chart_data()
    assert [point["ip"] for point in data["points"]] == [STOCKHOLM, CHANGCHUN, AMSTERDAM]
    assert len(data["impossible"]) == 1
    assert case_ip_map(travelling_case, max_kmh=20_000).impossible_legs == []


@pytest.mark.django_db
def test_impossible_travel_threshold_comes_from_the_setting(travelling_case, settings):
    settings.FRAUDCASE_IMPOSSIBLE_TRAVEL_KMH = 50_000
    assert case_ip_map(travelling_case).impossible_legs == []


@pytest.fixture
def shared_ip(db):
    """STOCKHOLM used by two accounts in two cases, with curation records, one hostile."""
    queue = make_queue("General", is_default=True)
    first = Case.objects.create(account_id="acc-one", queue=queue)
    second = Case.objects.create(account_id=HOSTILE, queue=queue)
    add_transaction(first, "a", T0, STOCKHOLM, label="fraud", device_id="dev-shared")
    add_transaction(first, "b", T0 + timedelta(hours=1), STOCKHOLM, device_id="dev-shared")
    add_transaction(second, "c", T0 + timedelta(hours=5), STOCKHOLM, label="legitimate")
    run = IngestRun.objects.create(bucket="b", key="curation/x.jsonl", etag="e", kind="curation")
    for index, (agent, at) in enumerate(
        [(HOSTILE, T0 - timedelta(hours=2)), ("curl/8.4.0", T0 + timedelta(hours=9))]
    ):
        CurationRecord.objects.create(
            dedupe_key=f"k{index}", source_ip=STOCKHOLM, transaction_id="acc-one-a",
            account_id="acc-one", observed_at=at, user_agent=agent,
            metadata={"isp": HOSTILE}, ingest_run=run, source_row=index + 1,
        )  # fmt: skip
    return first, second


@pytest.mark.django_db
def test_ip_usage_reads_who_used_the_ip_with_counts(shared_ip):
    first, second = shared_ip
    lead = make_user("lea", "lead")
    usage = ip_usage(STOCKHOLM, viewer=lead)

    assert usage.place.city == "Stockholm"
    assert usage.first_seen == T0 - timedelta(hours=2)  # the earliest curation record
    assert usage.last_seen == T0 + timedelta(hours=9)
    assert usage.accounts.items == [("acc-one", 2, 2), (HOSTILE, 1, 0)]
    assert usage.devices.items == [("dev-shared", 2), (f"dev-{HOSTILE}", 1)]
    assert [case.pk for case in usage.cases.items] == [second.pk, first.pk]
    assert usage.transactions.total == 3
    assert usage.label_counts == {"fraud": 1, "legitimate": 1, "unlabelled": 1}
    assert usage.curation_records.total == 2
    assert sorted(usage.user_agents.items) == [(HOSTILE, 1), ("curl/8.4.0", 1)]
    assert usage.hidden == {}  # a lead reads every case
    capped = ip_usage(STOCKHOLM, viewer=lead, limit=1)
    assert (len(capped.transactions.items), capped.transactions.truncated) == (1, True)
    assert ip_usage("not-an-ip", viewer=lead) is None


@pytest.mark.django_db
def test_an_analyst_sees_other_queues_uses_of_an_ip_only_as_counts(shared_ip):
    first, second = shared_ip
    analyst = make_user("ana", "analyst")
    second.queue = make_queue("High risk", analyst)  # the hostile account's case is hers
    second.save(update_fields=["queue"])

    usage = ip_usage(STOCKHOLM, viewer=analyst)
    html = client_for(analyst).get(reverse("ip-detail", args=[STOCKHOLM])).content.decode()

    assert [case.pk for case in usage.cases.items] == [second.pk]
    assert usage.accounts.items == [(HOSTILE, 1, 0)]
    assert [tx.transaction_id for tx in usage.transactions.items] == [f"{HOSTILE}-c"]
    assert usage.curation_records.total == 0  # both records are about acc-one
    assert usage.hidden == {"cases": 1, "accounts": 1, "transactions": 2, "curation_records": 2}
    assert usage.label_counts == {"fraud": 1, "legitimate": 1, "unlabelled": 1}  # counts: all
    assert first.reference not in html and "acc-one" not in html
    assert "And 1 case in queues you do not work (not shown)." in html
    assert "And 2 transactions of cases in queues you do not work (not shown)." in html


def html_attribute(html: str, element_id: str, name: str) -> str:
    tag = re.search(rf'<[a-z]+ id="{element_id}"[^>]*>', html, re.S).group(0)
    return unescape(re.search(rf'{name}="([^"]*)"', tag).group(1))


@pytest.mark.django_db
def test_ip_page_shows_place_users_and_escapes_the_hostile_user_agent(shared_ip):
    first, _ = shared_ip
    analyst = make_user("ana", "analyst")
    first.queue.members.add(analyst)
    response = client_for(analyst).get(reverse("ip-detail", args=[STOCKHOLM]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Stockholm, Sweden" in html
    assert "ASN unknown" in html and "no ASN database configured" in html
    assert "1 fraud · 1 legitimate · 1 unlabelled" in html
    assert f'href="/cases/{first.reference}/"' in html
    assert "dev-shared" in html and "curl/8.4.0" in html
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    data = json.loads(html_attribute(html, "ip-minimap", "data-map"))
    assert data["points"][0]["ip"] == STOCKHOLM


@pytest.mark.django_db
def test_ip_page_labels_a_private_ip_and_puts_nothing_on_the_map():
    response = client_for(make_user("ana", "analyst")).get(reverse("ip-detail", args=["10.9.8.7"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Private network" in html and "never placed on a map" in html
    data = json.loads(html_attribute(html, "ip-minimap", "data-map"))
    assert data == {"points": [], "impossible": [], "view": None}


@pytest.mark.django_db
def test_ip_page_redirects_other_spellings_and_refuses_non_ips_and_strangers():
    analyst = client_for(make_user("ana", "analyst"))
    long_form = analyst.get("/ips/2001:4860:4860:0:0:0:0:8888/")
    assert (long_form.status_code, long_form["Location"]) == (302, "/ips/2001:4860:4860::8888/")
    assert analyst.get("/ips/999.1.1.1/").status_code == 404

    anonymous = Client().get(reverse("ip-detail", args=[STOCKHOLM]))
    assert anonymous.status_code == 302 and "/auth/login/" in anonymous["Location"]

    nobody = client_for(make_user("nobody"))
    assert nobody.get(reverse("ip-detail", args=[STOCKHOLM])).status_code == 403
    assert AuditEvent.objects.filter(
        action=AuditAction.PERMISSION_DENIED, object_repr=STOCKHOLM
    ).exists()


@pytest.mark.django_db
def test_case_page_shows_the_ip_map_and_the_impossible_travel_flag(travelling_case):
    analyst = make_user("ana", "analyst")
    travelling_case.queue.members.add(analyst)
    html = client_for(analyst).get(reverse("case-detail", args=[travelling_case.reference])).content
    html = html.decode()

    assert 'id="ip-map"' in html
    assert 'id="impossible-travel"' in html
    assert "1 trip faster than 900 km/h" in html
    assert "Stockholm, Sweden" in html and "Changchun, China" in html
    assert f'href="/ips/{STOCKHOLM}/"' in html
    assert "Private network" in html
    data = json.loads(html_attribute(html, "case-ip-map", "data-map"))
    assert [point["ip"] for point in data["points"]] == [STOCKHOLM, CHANGCHUN, AMSTERDAM]


@pytest.mark.django_db
def test_case_page_escapes_hostile_transaction_ids_in_the_travel_flag():
    queue = make_queue("General", is_default=True)
    analyst = make_user("ana", "analyst")
    queue.members.add(analyst)
    case = Case.objects.create(account_id="acc-x", queue=queue)
    add_transaction(case, HOSTILE, T0, STOCKHOLM)
    add_transaction(case, "2", T0 + timedelta(minutes=1), CHANGCHUN)

    html = client_for(analyst).get(reverse("case-detail", args=[case.reference])).content.decode()

    assert 'id="impossible-travel"' in html
    assert HOSTILE not in html
    assert "acc-x-&lt;script&gt;" in html


@pytest.mark.django_db
def test_case_page_without_source_ips_says_so():
    queue = make_queue("General", is_default=True)
    analyst = make_user("ana", "analyst")
    queue.members.add(analyst)
    case = Case.objects.create(account_id="acc-noip", queue=queue)
    add_transaction(case, "1", T0, None)

    html = client_for(analyst).get(reverse("case-detail", args=[case.reference])).content.decode()

    assert "No transaction of this case has a source IP." in html
    assert 'id="impossible-travel"' not in html


# --- in a real browser --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_mini_maps_draw_in_the_browser(browser_page, live_server, travelling_case):
    analyst = make_user("ana", "analyst")
    analyst.set_password("a-long-test-password")
    analyst.save()
    travelling_case.queue.members.add(analyst)
    sign_in_browser(browser_page, live_server, "ana")
    errors: list[str] = []
    browser_page.on("pageerror", lambda error: errors.append(str(error)))

    browser_page.goto(f"{live_server.url}/cases/{travelling_case.reference}/")
    browser_page.wait_for_selector("#case-ip-map[data-rendered='3']", timeout=15_000)
    assert browser_page.locator("#case-ip-map .scattergeo").count() >= 1
    assert browser_page.locator("#impossible-travel").is_visible()
    assert browser_page.evaluate("document.querySelectorAll('#ip-map script').length") == 0

    browser_page.goto(f"{live_server.url}/ips/{STOCKHOLM}/")
    browser_page.wait_for_selector("#ip-minimap[data-rendered='1']", timeout=15_000)
    assert browser_page.locator("#ip-place").inner_text().startswith("Stockholm, Sweden")
    assert browser_page.evaluate("document.querySelectorAll('main script').length") == 0
    assert errors == []


@pytest.mark.django_db
def test_ip_and_case_pages_show_the_asn_escaped(tmp_path, settings, travelling_case):
    from cases.tests.test_ip_enrichment import write_asn_database

    settings.FRAUDCASE_GEOIP_ASN_PATH = write_asn_database(
        tmp_path / "asn.mmdb", {"89.160.0.0/16": (29518, HOSTILE)}
    )
    analyst = make_user("ana", "analyst")
    travelling_case.queue.members.add(analyst)
    client = client_for(analyst)

    ip_html = client.get(reverse("ip-detail", args=[STOCKHOLM])).content.decode()
    case_html = client.get(
        reverse("case-detail", args=[travelling_case.reference])
    ).content.decode()

    for html in (ip_html, case_html):
        assert "AS29518 &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert HOSTILE not in html
    assert "no ASN database configured" not in ip_html
