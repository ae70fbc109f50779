"""The curation page for a range with no snapshot: a large one is left to a worker (the page
answers at once with its countries and the computation's progress, polled from a status
endpoint), one computation per range at a time, failures and time-outs shown with a retry,
a bounded number of users' ranges kept; a small one is still computed in the request."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.common.ranges import DayRange
from analytics.curation.selectors import curation_computation, curation_rows
from analytics.curation.services import (
    curation_computation_failed,
    curation_computation_request,
    curation_computation_run,
)
from analytics.models import CurationKind, CurationSnapshot, CurationStatus
from analytics.rollups import rollups_rebuild
from analytics.selectors import IpMapFilters, ip_map
from analytics.tasks import compute_curation, warm_ip_map
from analytics.tests.test_curation import seen_ips
from cases.tests.workflow_fixtures import make_user
from conftest import client_for, wait_until

COMPUTE = "analytics.tasks.compute_curation"


@pytest.fixture(autouse=True)
def nothing_kept():
    cache.clear()


@pytest.fixture
def large(settings):
    """seen_ips in the rollups (22 flagged), and a threshold they are above."""
    seen_ips()
    rollups_rebuild()
    settings.FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS = 5


def custom_range() -> DayRange:
    """Not the default range: the last 9 days but today (seen_ips' rows, 15 of them)."""
    today = timezone.localdate()
    return DayRange(today - timedelta(days=9), today - timedelta(days=1))


def page_url(day_range: DayRange, name: str = "curation") -> str:
    return f"/analytics/{name}/?since={day_range.since}&until={day_range.until}"


def queued_tasks() -> list[str]:
    """The task names of the messages waiting in the default Celery queue (a Redis list)."""
    from fraudcase.celery import app

    with app.connection_for_write() as broker:
        messages = broker.default_channel.client.lrange("celery", 0, -1)
    return sorted(json.loads(message)["headers"]["task"] for message in messages)


def status(client, day_range: DayRange) -> dict:
    answer = client.get(page_url(day_range, "curation/status"))
    assert answer.status_code == 200, answer.content[:300]
    return answer.json()


def age(day_range: DayRange, seconds: float) -> None:
    """Move the range's request back in time (the database's clock runs on in these tests)."""
    CurationSnapshot.objects.filter(since=day_range.since, until=day_range.until).update(
        requested_at=timezone.now() - timedelta(seconds=seconds)
    )


@pytest.mark.django_db(transaction=True)
def test_a_large_range_is_left_to_a_worker_and_the_page_shows_its_progress_then_its_figures(
    large,
    celery_worker_factory,  # purges the broker's queue; no worker started
):
    day_range = custom_range()
    client = client_for(make_user("lea", "lead"))
    warm_ip_map()  # the default range's snapshot: a comparable computation for the estimate
    CurationSnapshot.objects.filter(kind=CurationKind.DEFAULT).update(
        duration_seconds=30, transactions=30
    )
    cache.clear()
    assert CurationSnapshot.objects.filter(since=day_range.since).count() == 0

    with CaptureQueriesContext(connection) as queries:
        page = client.get(page_url(day_range))

    assert page.status_code == 200
    assert [q["sql"] for q in queries if "cases_transaction" in q["sql"]] == []  # no aggregation
    html = page.content.decode()
    assert f"Computing the IPs and ASNs for {day_range.since} to {day_range.until}: started" in html
    assert 'id="curation-countries"' in html  # what is fast is there at once
    assert 'id="curation-ips"' not in html and 'id="curation-asns"' not in html
    assert "js/curation_status.js" in html and "<script>" not in html  # no inline script
    assert queued_tasks() == [COMPUTE]
    row = CurationSnapshot.objects.get(since=day_range.since, until=day_range.until)
    assert (row.status, row.kind, row.transactions) == ("computing", "custom", 15)

    # The status endpoint: elapsed against the default range's 30 s for 30 transactions,
    # scaled to this range's 15 (an estimate of 15 s).
    age(day_range, 6)
    computing = status(client, day_range)
    assert computing["state"] == "computing" and computing["error"] == ""
    assert 6 <= computing["elapsed_seconds"] < 60
    assert computing["estimate_seconds"] == 15
    assert computing["progress"] == pytest.approx(
        min(0.99, computing["elapsed_seconds"] / 15), abs=0.07
    )
    assert 0 < computing["percent"] <= 99

    # Asked again while it computes: no second computation.
    again = client.get(page_url(day_range))
    assert "Computing the IPs and ASNs" in again.content.decode()
    assert queued_tasks() == [COMPUTE]
    assert not curation_computation_request(day_range)
    assert queued_tasks() == [COMPUTE]

    assert compute_curation(day_range.since.isoformat(), day_range.until.isoformat()) == 5
    assert status(client, day_range)["state"] == "ready"
    cache.clear()  # from the snapshot, not from the IP map's cache the task also filled
    done = client.get(page_url(day_range)).content.decode()
    assert 'id="curation-ips"' in done and 'id="curation-asns"' in done
    assert "Computing the IPs and ASNs" not in done
    assert "(by a worker, for this range; computed again when asked for after 15 minutes)" in done
    direct_ips, direct_asns = curation_rows(
        ip_map(IpMapFilters(since=day_range.since, until=day_range.until), recompute=True)
    )
    row.refresh_from_db()
    assert (row.status, row.ips, row.asns) == ("ready", direct_ips, direct_asns)
    assert row.duration_seconds > 0
    for ip in direct_ips:
        assert f">{ip[0]}</a> ({ip[3]})" in done
    assert [ip[0] for ip in direct_ips] == [
        "8.8.8.8", "81.2.69.142", "89.160.20.128", "10.0.0.1", "2.125.160.216",
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_failed_computation_shows_its_error_and_a_retry_queues_it_again(
    large, celery_worker_factory
):
    day_range = custom_range()
    client = client_for(make_user("lea", "lead"))
    client.get(page_url(day_range))
    assert queued_tasks() == [COMPUTE]

    curation_computation_failed(day_range, "OperationalError: the database went away")

    html = client.get(page_url(day_range)).content.decode()
    assert 'id="curation-computation-error"' in html
    assert "failed: OperationalError: the database went away" in html
    assert 'id="curation-retry"' in html
    assert queued_tasks() == [COMPUTE]  # a failure is not retried by merely looking again
    assert status(client, day_range)["state"] == "failed"

    retried = client.post(
        "/analytics/curation/retry/",
        {"since": day_range.since.isoformat(), "until": day_range.until.isoformat()},
    )

    assert retried.status_code == 302 and retried["Location"] == page_url(day_range)
    assert queued_tasks() == [COMPUTE, COMPUTE]
    assert status(client, day_range)["state"] == "computing"
    compute_curation(day_range.since.isoformat(), day_range.until.isoformat())
    assert status(client, day_range)["state"] == "ready"


@pytest.mark.django_db(transaction=True)
def test_a_computation_past_its_time_limit_counts_as_failed_and_can_be_retried(
    large, celery_worker_factory, settings
):
    day_range = custom_range()
    client = client_for(make_user("lea", "lead"))
    client.get(page_url(day_range))
    age(day_range, settings.FRAUDCASE_CURATION_COMPUTE_SECONDS + 5)  # its worker died

    expired = status(client, day_range)
    html = client.get(page_url(day_range)).content.decode()

    assert expired["state"] == "failed" and "did not finish within" in expired["error"]
    assert "did not finish within" in html and 'id="curation-retry"' in html
    assert queued_tasks() == [COMPUTE]
    assert curation_computation_request(day_range, retry=True)
    assert status(client, day_range)["state"] == "computing"
    assert queued_tasks() == [COMPUTE, COMPUTE]


@pytest.mark.django_db(transaction=True)
def test_a_real_failure_in_the_task_marks_the_computation_failed(large, celery_worker_factory):
    """The task meets a lock it may not wait for (another session holds the table): the
    computation is marked failed with the database's message, and the error still raised."""
    import psycopg

    day_range = custom_range()
    assert curation_computation_request(day_range)
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=False) as other:
        other.execute("LOCK TABLE cases_transaction IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        try:
            with pytest.raises(Exception, match="lock timeout"):
                compute_curation(day_range.since.isoformat(), day_range.until.isoformat())
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        other.rollback()

    found = curation_computation(day_range)
    assert found.state == "failed" and "lock timeout" in found.error


@pytest.mark.django_db(transaction=True)
def test_of_requests_at_once_for_a_range_one_queues_its_computation(large, celery_worker_factory):
    day_range = custom_range()
    barrier = threading.Barrier(4)

    def ask() -> bool:
        try:
            barrier.wait(timeout=30)
            return curation_computation_request(day_range)
        finally:
            connection.close()  # each thread's own connection

    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(lambda _: ask(), range(4)))

    assert sorted(claimed) == [False, False, False, True]
    assert queued_tasks() == [COMPUTE]
    assert CurationSnapshot.objects.get().status == CurationStatus.COMPUTING


@pytest.mark.django_db
def test_users_ranges_kept_are_bounded_and_the_default_ranges_snapshot_stays(large, settings):
    settings.FRAUDCASE_CURATION_CUSTOM_RANGES_KEPT = 2
    warm_ip_map()
    today = timezone.localdate()
    ranges = [DayRange(today - timedelta(days=n + 5), today - timedelta(days=n)) for n in range(4)]
    for day_range in ranges:
        assert curation_computation_request(day_range)
        curation_computation_run(day_range)

    kept = CurationSnapshot.objects.order_by("kind", "since")
    assert [(row.kind, row.since, row.status) for row in kept] == [
        ("custom", ranges[3].since, CurationStatus.READY),  # the least recently asked for
        ("custom", ranges[2].since, CurationStatus.READY),  # are gone, but the last two
        ("default", DayRange.last(30).since, CurationStatus.READY),
    ]


@pytest.mark.django_db
def test_a_small_range_is_still_computed_in_the_request(settings):
    seen_ips()
    rollups_rebuild()
    settings.FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS = 100
    day_range = custom_range()

    html = client_for(make_user("lea", "lead")).get(page_url(day_range)).content.decode()

    assert 'id="curation-ips"' in html and ">8.8.8.8</a> (5)" in html
    assert "Computing the IPs and ASNs" not in html
    assert not CurationSnapshot.objects.exists()


@pytest.mark.django_db
def test_an_analyst_gets_the_pages_refusal_from_the_status_endpoint_and_the_retry(large):
    client = client_for(make_user("ana", "analyst"))
    day_range = custom_range()

    refusals = [
        client.get(page_url(day_range)),
        client.get(page_url(day_range, "curation/status")),
        client.post("/analytics/curation/retry/", {"since": day_range.since}),
    ]

    assert [answer.status_code for answer in refusals] == [403, 403, 403]
    messages = [
        re.search(r'<p class="error" role="alert">(.*?)</p>', answer.content.decode()).group(1)
        for answer in refusals
    ]
    assert "the team&#x27;s dashboards" in messages[0]
    assert messages == [messages[0]] * 3
    assert not CurationSnapshot.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_computes_the_range_the_page_asked_for(large, celery_worker_factory):
    day_range = custom_range()
    client = client_for(make_user("lea", "lead"))
    client.get(page_url(day_range))
    worker = celery_worker_factory()

    wait_until(
        lambda: status(client, day_range)["state"] == "ready", timeout=90,
        message=lambda: f"the computation; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip

    assert ">8.8.8.8</a> (5)" in client.get(page_url(day_range)).content.decode()
