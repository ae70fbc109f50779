"""Operations figures with exact numbers: SLA breaches, throughput and times from the audit
trail, reassignments; and every dashboard page renders, its CSV equal to its table."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.common.ranges import DayRange
from analytics.operations import selectors as ops
from analytics.rollups import rollups_rebuild
from analytics.tests.builders import quality_dataset
from cases.models import Case
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import signed_in

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30))


def test_sla_breaches_per_day_and_time_to_breach():
    queue = make_queue("General")
    due = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    # Closed in time, closed late, open past due (breached), open not yet due.
    make_case(queue, due_at=due, status="closed", closed_at=due - timedelta(hours=1))
    make_case(queue, due_at=due, status="closed", closed_at=due + timedelta(hours=1))
    make_case(queue, due_at=due, status="in_review")
    make_case(queue, due_at=NOW + timedelta(hours=2))
    make_case(queue, due_at=NOW + timedelta(hours=30))

    assert ops.sla_breaches_per_day(NOVEMBER, now=NOW) == [
        [date(2026, 11, 5), "General", 3, 2],
        [date(2026, 11, 10), "General", 1, 0],
        [date(2026, 11, 11), "General", 1, 0],
    ]
    assert ops.time_to_breach(now=NOW) == [
        ["General", "breached", 1], ["General", "1-4 h", 1], ["General", "> 24 h", 1],
    ]  # fmt: skip


def test_cases_closed_per_day_by_resolution_and_queue():
    general, cards = make_queue("General"), make_queue("Cards")
    day = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    for queue, resolution, closed_at in [
        (general, "confirmed_fraud", day), (general, "confirmed_fraud", day + timedelta(hours=3)),
        (general, "false_positive", day), (cards, "confirmed_fraud", day),
        (general, "inconclusive", day + timedelta(days=1)),
        (None, "false_positive", day + timedelta(days=1)),
        (general, "confirmed_fraud", datetime(2026, 10, 31, 23, 59, tzinfo=UTC)),  # before
    ]:  # fmt: skip
        make_case(queue, status="closed", resolution=resolution, closed_at=closed_at)
    make_case(general, status="merged", closed_at=day)  # merged: not a resolution
    make_case(general, status="in_review")

    assert ops.cases_closed_per_day(NOVEMBER) == [
        [date(2026, 11, 5), "Cards", "confirmed_fraud", 1],
        [date(2026, 11, 5), "General", "confirmed_fraud", 2],
        [date(2026, 11, 5), "General", "false_positive", 1],
        [date(2026, 11, 6), "(no queue)", "false_positive", 1],
        [date(2026, 11, 6), "General", "inconclusive", 1],
    ]


def test_throughput_first_touch_close_times_and_reassignments():
    ana, bob = make_user("ana", "analyst"), make_user("bob", "analyst")
    lead = make_user("lea", "lead")
    queue = make_queue("General", ana, bob)
    make_reason_codes()
    cases = [make_case(queue) for _ in range(3)]
    Case.objects.update(opened_at=timezone.now() - timedelta(hours=10))
    services.case_assign(actor=lead, case_id=cases[0].pk, assignee_id=ana.pk)
    services.case_assign(actor=lead, case_id=cases[0].pk, assignee_id=bob.pk)  # reassigned
    for case, analyst in ((cases[0], bob), (cases[1], ana), (cases[2], ana)):
        services.case_close(actor=analyst, case_id=case.pk, resolution="inconclusive",
                            reason_codes=["insufficient-evidence"], comment="done")  # fmt: skip
    today = DayRange.last(1)

    closes = ops.closes_per_analyst(today)
    assert [row[1:] for row in closes] == [["ana", 2], ["bob", 1]]
    assert [row[1:] for row in ops.closes_per_analyst(today, analyst_id=ana.pk)] == [["ana", 2]]
    times = {row[0]: row[1:] for row in ops.analyst_times(today)}
    assert times["ana"][0] == 2 and times["bob"][0] == 1
    assert times["ana"][2] == pytest.approx(10, abs=0.1)  # hours to close
    assert times["ana"][1] == pytest.approx(10, abs=0.1)  # first touch: the close itself
    assert times["bob"][1] == pytest.approx(10, abs=0.1)  # the lead's assignment is a touch
    assert [row[1] for row in ops.reassignments_per_day(today)] == [1]
    assert ops.reassignments_per_day(today, analyst_name="ana")[0][1] == 1


def table_rows(html: str, chart_id: str) -> list[list[str]]:
    table = re.search(rf'<table[^>]*id="{chart_id}-table">(.*?)</table>', html, re.S).group(1)
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        rows.append(
            [unescape(c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        )
    return rows


@pytest.mark.parametrize("name", [
    "analytics-quality", "analytics-drift", "analytics-operations", "analytics-money",
    "analytics-labels", "analytics-curation",
])  # fmt: skip
def test_each_dashboard_renders_and_each_charts_csv_is_its_table(name):
    lead = make_user("lea", "lead")
    ana = make_user("ana", "analyst")
    quality_dataset(analyst=ana)
    rollups_rebuild()
    client = signed_in(Client(), lead)
    url = reverse(name) + "?since=2026-11-01&until=2026-11-30"

    page = client.get(url)

    assert page.status_code == 200
    html = page.content.decode()
    chart_ids = re.findall(r'class="dashboard-chart" role="img"', html)
    assert chart_ids
    for chart_id in re.findall(r'<div id="([a-z0-9-]+)" class="dashboard-chart"', html):
        response = client.get(url + f"&csv={chart_id}")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        shown = table_rows(html, chart_id)
        if len(rows) == 1:  # no figures: the table says so in one cell
            assert len(shown) == 2
        else:
            assert rows == shown, chart_id
    assert client.get(url + "&csv=nothing").status_code == 404


def test_an_analyst_sees_their_own_figures_only():
    ana = make_user("ana", "analyst")
    client = signed_in(Client(), ana)
    page = client.get(reverse("analytics-operations")).content.decode()
    assert "Your own figures" in page and "ops-flagged" not in page and "ops-throughput" in page
    assert client.get(reverse("analytics-quality")).status_code == 403
    assert client.get(reverse("analytics")).url == reverse("analytics-operations")
