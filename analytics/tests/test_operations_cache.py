"""The operations page's case and audit-trail figures, kept FRAUDCASE_OPERATIONS_CACHE_SECONDS
per range and scope: the same rows as the selectors, unchanged by a case write until they
expire or the cache is cleared (at once with the setting at 0), never one scope's for another,
computed once when two requests miss together, and warmed by beat for the team's default."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.common.ranges import DEFAULT_DAYS, DayRange
from analytics.operations import selectors as ops
from analytics.operations.cache import _cache_key, operations_figures
from analytics.rollups import rollups_rebuild
from analytics.tasks import warm_operations
from analytics.tests.test_operations import table_rows
from cases.models import Case, IngestRun, Transaction
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import client_for, wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cache_kept_a_minute(settings):
    settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS = 60
    cache.clear()


def the_default_range() -> DayRange:
    return DayRange.last(DEFAULT_DAYS)


def operations_world() -> dict:
    """Two analysts and a lead; three cases opened 10 h ago and closed today (one reassigned
    first), one open past its SLA and one open due tomorrow."""
    ana, bob = make_user("ana", "analyst"), make_user("bob", "analyst")
    lead = make_user("lea", "lead")
    queue = make_queue("General", ana, bob)
    make_reason_codes()
    now = timezone.now()
    closing = [make_case(queue, due_at=now + timedelta(hours=2)) for _ in range(3)]
    make_case(queue, due_at=now - timedelta(hours=5))
    make_case(queue, due_at=now + timedelta(hours=30))
    Case.objects.update(opened_at=now - timedelta(hours=10))
    services.case_assign(actor=lead, case_id=closing[0].pk, assignee_id=ana.pk)
    services.case_assign(actor=lead, case_id=closing[0].pk, assignee_id=bob.pk)
    for case, analyst in ((closing[0], bob), (closing[1], ana), (closing[2], ana)):
        services.case_close(actor=analyst, case_id=case.pk, resolution="inconclusive",
                            reason_codes=["insufficient-evidence"], comment="done")  # fmt: skip
    return {"ana": ana, "bob": bob, "lead": lead, "queue": queue}


def selector_tables(day_range: DayRange, *, now, analyst_id=None, analyst_name=None) -> dict:
    tables = {}
    if analyst_id is None:
        tables = {
            "flagged": ops.flagged_per_day(day_range),
            "opened": ops.cases_opened_per_day(day_range),
            "closed": ops.cases_closed_per_day(day_range),
            "ages": ops.open_cases_by_age(now=now),
            "breaches": ops.sla_breaches_per_day(day_range, now=now),
            "to_breach": ops.time_to_breach(now=now),
            "exports": ops.label_export_per_day(day_range),
            "books": ops.ingest_books_per_day(day_range),
        }
    tables["closes"] = ops.closes_per_analyst(day_range, analyst_id=analyst_id)
    tables["times"] = ops.analyst_times(day_range, analyst_id=analyst_id)
    tables["moves"] = ops.reassignments_per_day(day_range, analyst_name=analyst_name)
    return tables


def test_cached_figures_are_the_selectors_rows_for_each_scope():
    world = operations_world()
    # Rows for the rollup and history figures too: today's flagged volume, an ingest run.
    Transaction.objects.update(occurred_at=timezone.now())
    rollups_rebuild()
    IngestRun.objects.create(bucket="b", key="flagged/x.csv", etag="e", rows_read=12,
                             rows_loaded=10, rows_duplicate=1, rows_quarantined=1)  # fmt: skip
    day_range = the_default_range()
    ana = world["ana"]

    first = operations_figures(day_range, analyst_id=None, analyst_name=None)
    again = operations_figures(day_range, analyst_id=None, analyst_name=None)
    own = operations_figures(day_range, analyst_id=ana.pk, analyst_name="ana")
    own_again = operations_figures(day_range, analyst_id=ana.pk, analyst_name="ana")

    assert (first.from_cache, again.from_cache, own.from_cache, own_again.from_cache) == (
        False, True, False, True,
    )  # fmt: skip
    assert again.computed_at == first.computed_at
    assert again.tables == first.tables == selector_tables(day_range, now=first.computed_at)
    assert (
        own_again.tables
        == own.tables
        == selector_tables(day_range, now=own.computed_at, analyst_id=ana.pk, analyst_name="ana")
    )
    # The figures themselves (so the comparisons above compare something).
    assert [row[1:] for row in again.tables["closes"]] == [["ana", 2], ["bob", 1]]
    assert [row[1:] for row in own_again.tables["closes"]] == [["ana", 2]]
    assert [row[1] for row in own_again.tables["moves"]] == [1]
    assert again.tables["to_breach"] == [["General", "breached", 1], ["General", "> 24 h", 1]]
    assert [row[1:] for row in again.tables["flagged"]] == [[0, 10, 0, 0]]
    assert [row[1:] for row in again.tables["books"]] == [[1, 12, 10, 1, 1]]
    assert set(own_again.tables) == {"closes", "times", "moves"}  # no team figures in it


def test_a_case_write_shows_once_the_figures_expire_or_the_cache_is_cleared(settings):
    world = operations_world()
    client = client_for(world["lead"])
    url = reverse("analytics-operations")
    before = client.get(url).content.decode()
    opened_before = table_rows(before, "ops-opened")

    make_case(world["queue"])  # opened now: one more case today

    cached = client.get(url).content.decode()
    assert table_rows(cached, "ops-opened") == opened_before
    assert 'id="ops-as-of"' in cached and "recomputed at most every 60 s" in cached
    assert "The label-export backlog is live." in cached
    cache.clear()
    recomputed = table_rows(client.get(url).content.decode(), "ops-opened")
    assert recomputed != opened_before
    assert sum(int(row[2]) for row in recomputed[1:]) == 6  # five cases, and the new one

    settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS = 0
    make_case(world["queue"])
    live = client.get(url).content.decode()
    assert sum(int(row[2]) for row in table_rows(live, "ops-opened")[1:]) == 7
    assert "(computed for this page)" in live and "recomputed at most" not in live


def test_kept_figures_expire_after_the_settings_seconds_and_then_show_the_write(settings):
    world = operations_world()
    settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS = 1
    day_range = the_default_range()
    before = operations_figures(day_range, analyst_id=None, analyst_name=None)
    make_case(world["queue"])

    again = operations_figures(day_range, analyst_id=None, analyst_name=None)
    assert not again.from_cache or again.tables == before.tables  # (a slow machine: expired)
    after = wait_until(
        lambda: (figures := operations_figures(day_range, analyst_id=None, analyst_name=None))
        and not figures.from_cache and figures,
        timeout=30, message="the kept figures to expire",
    )  # fmt: skip
    assert sum(row[2] for row in after.tables["opened"]) == 6
    assert sum(row[2] for row in before.tables["opened"]) == 5


def test_the_page_says_as_of_when_by_the_database_clock():
    world = operations_world()
    page = client_for(world["lead"]).get(reverse("analytics-operations")).content.decode()
    kept = operations_figures(the_default_range(), analyst_id=None, analyst_name=None)

    assert kept.from_cache
    assert f'<time datetime="{kept.computed_at.isoformat()}">' in page
    assert f"as of <time datetime=\"{kept.computed_at.isoformat()}\">{kept.computed_at:%H:%M:%S} UTC" in page  # fmt: skip


def test_an_analyst_is_never_served_the_teams_or_another_analysts_figures():
    world = operations_world()
    url = reverse("analytics-operations")
    team = client_for(world["lead"]).get(url).content.decode()  # the team's figures, cached
    assert [row[1:] for row in table_rows(team, "ops-throughput")[1:]] == [["ana", "2"], ["bob", "1"]]  # fmt: skip

    ana_page = client_for(world["ana"]).get(url).content.decode()
    bob_page = client_for(world["bob"]).get(url).content.decode()
    ana_again = client_for(world["ana"]).get(url).content.decode()

    assert [row[1:] for row in table_rows(ana_page, "ops-throughput")[1:]] == [["ana", "2"]]
    assert [row[1:] for row in table_rows(bob_page, "ops-throughput")[1:]] == [["bob", "1"]]
    assert table_rows(ana_again, "ops-throughput") == table_rows(ana_page, "ops-throughput")
    assert "ops-opened" not in ana_page and "ops-opened" not in bob_page
    day_range = the_default_range()
    keys = {_cache_key(day_range, None, None), _cache_key(day_range, world["ana"].pk, "ana"),
            _cache_key(day_range, world["bob"].pk, "bob")}  # fmt: skip
    assert len(keys) == 3


def test_a_request_that_misses_while_another_computes_takes_its_figures():
    day_range = the_default_range()
    key = _cache_key(day_range, None, None)
    assert cache.add(f"{key}:computing", True, timeout=30)  # another request is computing
    theirs = {"tables": {"opened": [["theirs"]]}, "computed_at": datetime(2026, 12, 7, 1, 42, 7, tzinfo=UTC)}  # fmt: skip
    landing = threading.Timer(0.3, lambda: cache.set(key, theirs, timeout=60))
    landing.start()
    try:
        with CaptureQueriesContext(connection) as queries:
            figures = operations_figures(day_range, analyst_id=None, analyst_name=None)
    finally:
        landing.join()

    assert figures.from_cache and figures.tables == theirs["tables"]
    assert figures.computed_at == theirs["computed_at"]
    assert not [q for q in queries if "cases_case" in q["sql"] or "cases_auditevent" in q["sql"]]


def test_a_request_that_waited_in_vain_computes_and_stores_the_figures():
    operations_world()
    day_range = the_default_range()
    key = _cache_key(day_range, None, None)
    assert cache.add(f"{key}:computing", True, timeout=30)  # a holder that died mid-way

    figures = operations_figures(day_range, analyst_id=None, analyst_name=None, wait_seconds=0.2)

    assert not figures.from_cache
    assert figures.tables == selector_tables(day_range, now=figures.computed_at)
    assert operations_figures(day_range, analyst_id=None, analyst_name=None).from_cache


def test_beats_warm_up_fills_the_teams_default_range_and_the_first_request_hits_it(settings):
    world = operations_world()
    entry = django_settings.CELERY_BEAT_SCHEDULE["warm-operations"]
    assert entry["task"] == "analytics.tasks.warm_operations"
    assert entry["schedule"] < django_settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS

    warmed = warm_operations.apply().get()
    assert warm_operations.apply().get() >= warmed  # idempotent: it only replaces the entry

    client = client_for(world["lead"])
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("analytics-operations")).content.decode()
    assert not [q for q in queries if "cases_auditevent" in q["sql"]]
    kept = operations_figures(the_default_range(), analyst_id=None, analyst_name=None)
    assert kept.from_cache and kept.tables == selector_tables(
        the_default_range(), now=kept.computed_at
    )
    assert f'datetime="{kept.computed_at.isoformat()}"' in page

    settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS = 0
    assert warm_operations.apply().get() is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_beats_warm_up_into_the_shared_cache(celery_worker_factory):
    operations_world()
    day_range = the_default_range()
    worker = celery_worker_factory()

    warm_operations.delay()  # what beat sends every FRAUDCASE_OPERATIONS_WARM_SECONDS

    wait_until(
        lambda: cache.get(_cache_key(day_range, None, None)), timeout=90,
        message=lambda: f"the warmed figures; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    kept = operations_figures(day_range, analyst_id=None, analyst_name=None)
    assert kept.from_cache
    assert kept.tables == selector_tables(day_range, now=kept.computed_at)
