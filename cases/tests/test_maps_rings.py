"""Maps and rings that help: the mini map's view never closes in on a blank polygon, rings are
ranked by confirmed fraud and risk, with a size cap and filters."""

from __future__ import annotations

import pytest
from django.test import override_settings

from cases.ips.map_view import map_view
from cases.ips.selectors.ip import case_ip_map
from cases.ips.selectors.rings import RingFilters, account_ring, ring_rank, rings_page
from cases.ips.services import rings_compute
from cases.models import Case, CaseStatus
from cases.tests.link_fixtures import account_case, tx
from cases.tests.workflow_fixtures import make_user
from conftest import client_for

STOCKHOLM = "89.160.20.128"  # GeoLite2 2018: Stockholm, SE
STOCKHOLM_TOO = "89.160.20.129"
AMSTERDAM = "193.0.6.139"


# --- the mini map's view ------------------------------------------------------------------------


def test_no_points_no_view():
    assert map_view([]) is None


def test_one_point_is_shown_with_its_neighbours_not_as_a_blank_polygon():
    assert map_view([(59.33, 18.06)]) == {"lat": 59.33, "lon": 18.06, "scale": 6.0}


def test_points_in_one_city_get_the_same_regional_view_as_one_point():
    view = map_view([(59.3, 18.0), (59.5, 18.2), (59.4, 18.1)])

    assert view == {"lat": 59.4, "lon": 18.1, "scale": 6.0}  # box centre, narrowest span


def test_spread_points_fit_with_padding():
    # 100 degrees of longitude, padded to 150: 180 / 150.
    assert map_view([(10.0, 0.0), (20.0, 100.0)]) == {"lat": 15.0, "lon": 50.0, "scale": 1.2}
    # 40 degrees of latitude count double (the map is twice as wide as tall), padded: 120.
    assert map_view([(0.0, 0.0), (40.0, 10.0)]) == {"lat": 20.0, "lon": 5.0, "scale": 1.5}


def test_never_farther_than_the_whole_world():
    assert map_view([(-60.0, -170.0), (70.0, 170.0)]) == {"lat": 5.0, "lon": 0.0, "scale": 1.0}


@pytest.mark.django_db
def test_a_case_with_every_transaction_in_one_city_gets_a_regional_view():
    case = account_case("acc-one-city")
    tx("acc-one-city", ip=STOCKHOLM)
    tx("acc-one-city", ip=STOCKHOLM_TOO)

    data = case_ip_map(case).chart_data()

    place = case_ip_map(case).points[0].place
    assert [point["ip"] for point in data["points"]] == [STOCKHOLM, STOCKHOLM_TOO]
    assert data["view"] == {
        "lat": round(place.latitude, 2), "lon": round(place.longitude, 2), "scale": 6.0,
    }  # fmt: skip


@pytest.mark.django_db
def test_a_case_without_placed_ips_has_no_view():
    case = account_case("acc-private")
    tx("acc-private", ip="10.1.2.3")

    assert case_ip_map(case).chart_data()["view"] is None


# --- rings: ranked by confirmed fraud and risk, capped and filtered -----------------------------


def _priority(account: str, priority: int, status: str = CaseStatus.OPEN) -> None:
    Case.objects.filter(account_id=account).update(priority=priority, status=status)


@pytest.fixture
def rings(db):
    """Four rings: "low" (2 accounts, 1 fraud, risk 40), "high" (2, 1 fraud, risk 90),
    "clean" (3, no fraud, risk 99) and "big" (60 accounts in a chain of shared devices, no
    fraud, risk 10), plus a closed case whose priority does not count."""
    tx("low1", device="dev-low", label="fraud")
    tx("low2", device="dev-low")
    tx("high1", device="dev-high", label="fraud")
    tx("high2", device="dev-high")
    for account in ("clean1", "clean2", "clean3"):
        tx(account, ip="81.2.69.50")
    for number in range(60):  # each shares a device with the next: no hub, one long chain
        tx(f"big{number:02d}", device=f"dev-big{number}")
        tx(f"big{number:02d}", device=f"dev-big{number + 1}")
    _priority("low1", 40)
    _priority("low2", 95, status=CaseStatus.CLOSED)  # finished: not a risk any more
    _priority("high2", 90)
    _priority("clean3", 99)
    _priority("big07", 10)
    with override_settings(FRAUDCASE_RING_MAX_SIZE=50):
        yield rings_compute()


def _names(page) -> list[str]:
    return [row.ring.account_ids[0].rstrip("0123456789") for row in page.rows]


def test_a_ring_carries_the_highest_priority_of_its_members_open_cases(rings):
    by_name = {ring.account_ids[0]: ring for ring in rings.rings.all()}

    assert {name: ring.risk for name, ring in by_name.items()} == {
        "low1": 40, "high1": 90, "clean1": 99, "big00": 10,
    }  # fmt: skip
    assert (by_name["big00"].size, by_name["big00"].fraud_accounts) == (60, 0)


def test_rings_rank_by_confirmed_fraud_then_risk_and_leave_out_oversized_ones(rings):
    lead = make_user("lea", "lead")

    page = rings_page(viewer=lead)

    assert _names(page) == ["high", "low", "clean"]
    assert [row.rank for row in page.rows] == [1, 2, 3]
    assert (page.listed, page.left_out, page.filters) == (3, 1, RingFilters(max_size=50))


def test_rings_by_risk_and_every_filter(rings):
    lead = make_user("lea", "lead")
    page = lambda **kwargs: _names(rings_page(viewer=lead, **kwargs))  # noqa: E731

    assert page(sort="risk") == ["clean", "high", "low"]
    assert page(filters=RingFilters(max_size=None)) == ["high", "low", "clean", "big"]
    assert page(sort="size", filters=RingFilters(max_size=None)) == ["big", "clean", "high", "low"]
    assert page(filters=RingFilters(max_size=50, min_fraud=1)) == ["high", "low"]
    assert page(filters=RingFilters(max_size=50, min_risk=50)) == ["high", "clean"]
    assert page(filters=RingFilters(max_size=2)) == ["high", "low"]


def test_a_ring_over_the_cap_has_no_rank_and_the_rest_rank_as_listed(rings):
    with override_settings(FRAUDCASE_RING_MAX_SIZE=50):
        assert ring_rank(account_ring("big00")) is None
        assert ring_rank(account_ring("clean2")) == 3
        assert ring_rank(account_ring("clean2"), sort="risk") == 1
    assert ring_rank(account_ring("big00"), filters=RingFilters(max_size=None)) == 4
    assert ring_rank(account_ring("big00"), sort="size", filters=RingFilters()) == 1


def test_the_rings_page_filters_from_the_query_and_says_what_it_left_out(rings):
    client = client_for(make_user("lea", "lead"))

    with override_settings(FRAUDCASE_RING_MAX_SIZE=50):
        capped = client.get("/rings/").content.decode()
        fraud_only = client.get("/rings/?fraud=1&max_size=any").content.decode()
        every = client.get("/rings/?max_size=any&sort=size").content.decode()

    assert "3 rings listed;" in capped and "1 left out by the filters" in capped
    assert 'href="?sort=fraud&amp;max_size=any">show every size</a>' in capped
    assert 'data-ring-size="60"' not in capped
    assert "2 rings listed;" in fraud_only and "2 left out by the filters" in fraud_only
    assert "4 rings listed." in every and every.index('data-ring-size="60"') < every.index(
        'data-ring-size="3"'
    )
    assert "risk 99</h2>" in capped
