"""The IP map as each reader may see it: counts whole, other queues' accounts and cases never
named (cases.policies)."""

from datetime import date

import pytest
from django.core.cache import cache

from analytics.selectors import IpMapFilters, ip_map, ip_map_seen_by
from cases.models import Case
from cases.tests.link_fixtures import tx
from cases.tests.workflow_fixtures import make_queue, make_user

pytestmark = pytest.mark.django_db

NOVEMBER = IpMapFilters(since=date(2026, 11, 1), until=date(2026, 11, 30))


@pytest.fixture(autouse=True)
def no_map_from_an_earlier_test():
    cache.clear()


def test_an_analyst_sees_counts_of_every_use_but_names_only_from_her_queues():
    analyst = make_user("ana", "analyst")
    mine, theirs = make_queue("Mine", analyst), make_queue("Theirs")
    tx("acc-mine", ip="8.8.8.8", label="fraud")
    tx("acc-theirs", ip="8.8.8.8", label="legitimate")
    Case.objects.filter(account_id="acc-mine").update(queue=mine)
    Case.objects.filter(account_id="acc-theirs").update(queue=theirs)
    theirs_reference = Case.objects.get(account_id="acc-theirs").reference

    whole = ip_map(NOVEMBER)
    seen = ip_map_seen_by(whole, analyst)
    lead_view = ip_map_seen_by(whole, make_user("lea", "lead"))

    (point,) = seen.points
    assert (point.transactions, point.accounts, point.cases, point.fraud_rate) == (2, 2, 2, 0.5)
    assert point.sample_accounts == ["acc-mine"]
    assert theirs_reference not in point.sample_cases and len(point.sample_cases) == 1
    assert lead_view.points[0].sample_accounts == ["acc-mine", "acc-theirs"]
    assert whole.points[0].sample_accounts == [
        "acc-mine",
        "acc-theirs",
    ]  # the cached map is untouched
