"""The curation page's IPs and ASNs: beat's snapshot (analytics.tasks.warm_ip_map) holds the
figures the direct SQL gives, the page reads it without aggregating the transactions, and a
snapshot too old (beat stopped) gives way to the live figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.common.ranges import DayRange
from analytics.curation.selectors import top_ips_and_asns
from analytics.models import CurationSnapshot
from analytics.tasks import warm_ip_map
from cases.tests.link_fixtures import tx
from cases.tests.workflow_fixtures import make_user
from conftest import client_for, wait_until

pytestmark = pytest.mark.django_db

DIRECT_SQL = """
SELECT host(source_ip), count(*), count(*) FILTER (WHERE label <> ''),
       count(*) FILTER (WHERE label = 'fraud')
FROM cases_transaction
WHERE source_ip IS NOT NULL AND occurred_at >= %(start)s AND occurred_at < %(end)s
GROUP BY source_ip ORDER BY count(*) DESC, source_ip LIMIT %(limit)s"""


@pytest.fixture(autouse=True)
def nothing_kept():
    cache.clear()


def default_range() -> DayRange:
    return DayRange.last(30)


def direct(day_range: DayRange, limit: int = 20) -> list[list]:
    start, end = day_range.moments()
    with connection.cursor() as cursor:
        cursor.execute(DIRECT_SQL, {"start": start, "end": end, "limit": limit})
        return [list(row) for row in cursor.fetchall()]


def seen_ips() -> None:
    """Five IPs with 5, 4, 3, 2 and 1 transactions in the last days (labels among them), one
    private, and one busier IP outside the default range."""
    now = timezone.now()
    for ip, count, fraud, legitimate in [
        ("8.8.8.8", 5, 2, 1), ("81.2.69.142", 4, 0, 2), ("89.160.20.128", 3, 3, 0),
        ("10.0.0.1", 2, 0, 0), ("2.125.160.216", 1, 0, 1),
    ]:  # fmt: skip
        labels = ["fraud"] * fraud + ["legitimate"] * legitimate
        for n in range(count):
            tx(f"acc-{ip}-{n % 2}", ip=ip, label=labels[n] if n < len(labels) else "",
               occurred_at=now - timedelta(days=n + 1))  # fmt: skip
    for _ in range(7):
        tx("old", ip="5.9.1.1", occurred_at=now - timedelta(days=40))


def test_beats_snapshot_holds_what_the_direct_sql_gives():
    seen_ips()

    warm_ip_map()

    snapshot = CurationSnapshot.objects.get()
    day_range = default_range()
    assert (snapshot.since, snapshot.until) == (day_range.since, day_range.until)
    assert [row[0] for row in snapshot.ips] == [row[0] for row in direct(day_range)]
    assert [[row[0], row[3], row[4], row[5]] for row in snapshot.ips] == direct(day_range)
    assert snapshot.ips[0][:6] == ["8.8.8.8", snapshot.ips[0][1], snapshot.ips[0][2], 5, 3, 2]
    assert sum(row[3] for row in snapshot.asns) == 15  # every IP's transactions, by ASN
    # The same as computing them now, without the snapshot.
    live = top_ips_and_asns(day_range, limit=21)
    assert not live.from_snapshot
    assert (snapshot.ips, snapshot.asns) == (live.ips, live.asns)


def test_the_page_reads_the_snapshot_without_aggregating_the_transactions():
    seen_ips()
    warm_ip_map()
    client = client_for(make_user("lea", "lead"))
    cache.clear()  # nothing in the cache: a cold page

    with CaptureQueriesContext(connection) as queries:
        page = client.get("/analytics/curation/")

    assert page.status_code == 200
    assert [q["sql"] for q in queries if "cases_transaction" in q["sql"]] == []
    html = page.content.decode()
    assert 'id="curation-ips-as-of"' in html and "refreshed in the background" in html
    assert ">8.8.8.8</a> (5)" in html


def test_a_snapshot_too_old_gives_way_to_the_live_figures(settings):
    seen_ips()
    warm_ip_map()
    tx("late", ip="89.160.20.128", occurred_at=timezone.now() - timedelta(hours=1))
    day_range = default_range()
    assert top_ips_and_asns(day_range).from_snapshot  # fresh: the new row not in it yet
    assert top_ips_and_asns(day_range).ips[2][3] == 3  # 89.160.20.128 as beat saw it

    CurationSnapshot.objects.update(
        computed_at=timezone.now()
        - timedelta(seconds=settings.FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE + 5)
    )
    cache.clear()
    live = top_ips_and_asns(day_range)

    assert not live.from_snapshot
    assert [[row[0], row[3], row[4], row[5]] for row in live.ips] == direct(day_range)
    assert live.ips[1][0] == "81.2.69.142" and live.ips[2][3] == 4  # 89.160.20.128 now 4


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_beats_warm_up_and_stores_the_snapshot(celery_worker_factory):
    seen_ips()
    worker = celery_worker_factory()

    warm_ip_map.delay()  # what beat sends every FRAUDCASE_IP_MAP_WARM_SECONDS

    snapshot = wait_until(
        lambda: CurationSnapshot.objects.first(), timeout=90,
        message=lambda: f"a snapshot; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert [[row[0], row[3], row[4], row[5]] for row in snapshot.ips] == direct(default_range())
