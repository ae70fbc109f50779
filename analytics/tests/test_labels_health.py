"""Label health: exact figures on label versions written through the label service, equal to
the same figures counted from every label version (the SQL the page ran before it read the
trigger-kept LabelDayRollup), and the rollup equal to its rebuild after the versions moved
(a hold reason set after the insert, an analyst removed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Sum

from analytics.common.ranges import DayRange
from analytics.labels_health import selectors as health
from analytics.models import LabelDayRollup, LabelFactDay
from analytics.rollups import label_counters_compact, rollups_rebuild
from analytics.tests.builders import labelled_transaction
from cases.labels.models import HoldReason, LabelStatus, LabelVersion
from cases.labels.services.versions import label_version_record
from cases.models import Case
from conftest import wait_until

pytestmark = pytest.mark.django_db

NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30))


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def record(analyst, tx, label: str, when: datetime) -> LabelVersion:
    with transaction.atomic():
        return label_version_record(
            actor=analyst, tx=tx, label=label, reason_codes=[], why="analyst", when=when
        )


def built_labels():
    users = get_user_model().objects
    alice, bob, carol = (users.create_user(name, password="x" * 12) for name in ("alice", "bob", "carol"))  # fmt: skip
    shared = Case.objects.create(account_id="acc_shared")
    tx1, tx2 = (labelled_transaction(score=0.5, label="", case=shared) for _ in range(2))
    tx3 = labelled_transaction(score=0.5, label="")
    tx4 = labelled_transaction(score=0.5, label="", case=shared)
    record(alice, tx1, "fraud", at(2))
    record(alice, tx2, "legitimate", at(2, 23))
    record(bob, tx1, "legitimate", at(3))  # a flip of alice's
    record(bob, tx1, "legitimate", at(3, 13))  # not a flip
    held = record(bob, tx3, "fraud", at(3))
    # The burst guard's path: the hold reason is set on the saved version.
    held.status, held.hold_reason = LabelStatus.HELD, HoldReason.CONTRADICTION_BURST
    held.save(update_fields=["status", "hold_reason"])
    record(carol, tx4, "fraud", at(4))
    record(alice, tx4, "legitimate", at(4))  # a flip of carol's
    record(alice, tx3, "fraud", datetime(2026, 10, 31, 23, 59, tzinfo=UTC))  # before the range
    return alice, bob, carol


def old_figures(day_range: DayRange, analyst_id=None) -> dict[str, list[list]]:
    """The page's figures counted from every label version and label fact, as before."""
    mine = "" if analyst_id is None else "AND v.analyst_id = %(analyst)s"
    mine_pair = "" if analyst_id is None else "AND mine.labelled_by_id = %(analyst)s"
    queries = {
        "per_analyst": f"""SELECT (v.decided_at AT TIME ZONE 'UTC')::date, coalesce(u.username, '(removed)'),
                count(*), count(*) FILTER (WHERE v.label = 'fraud')
            FROM cases_labelversion v LEFT JOIN auth_user u ON u.id = v.analyst_id
            WHERE v.decided_at >= %(start)s AND v.decided_at < %(end)s {mine}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        "agreement": f"""WITH labelled AS (
                SELECT account_id, labelled_by_id, label FROM analytics_labelfact
                WHERE day BETWEEN %(since)s AND %(until)s AND labelled_by_id IS NOT NULL
            ), shared AS (
                SELECT account_id, count(DISTINCT label) = 1 AS agree FROM labelled
                GROUP BY account_id HAVING count(DISTINCT labelled_by_id) >= 2
            )
            SELECT coalesce(u.username, '(removed)'), count(*), count(*) FILTER (WHERE shared.agree),
                   round(avg(shared.agree::int), 4)::float8
            FROM shared JOIN (SELECT DISTINCT account_id, labelled_by_id FROM labelled) AS mine USING (account_id)
            LEFT JOIN auth_user u ON u.id = mine.labelled_by_id
            WHERE true {mine_pair}
            GROUP BY 1 ORDER BY 1""",
        "guards": f"""SELECT (v.decided_at AT TIME ZONE 'UTC')::date, v.hold_reason, count(*)
            FROM cases_labelversion v
            WHERE v.hold_reason <> '' AND v.decided_at >= %(start)s AND v.decided_at < %(end)s {mine}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        "flips": f"""SELECT day, sum(flips), sum(retractions) FROM (
                SELECT (v.decided_at AT TIME ZONE 'UTC')::date AS day, count(*) AS flips, 0 AS retractions
                FROM cases_labelversion v JOIN cases_labelversion s ON s.id = v.supersedes_id
                WHERE v.label <> s.label AND v.decided_at >= %(start)s AND v.decided_at < %(end)s {mine}
                GROUP BY 1
                UNION ALL
                SELECT (o.created_at AT TIME ZONE 'UTC')::date, 0, count(*)
                FROM cases_labeloutbox o JOIN cases_labelversion v ON v.id = o.label_version_id
                WHERE o.action = 'retract' AND o.created_at >= %(start)s AND o.created_at < %(end)s {mine}
                GROUP BY 1
            ) AS days GROUP BY day ORDER BY day""",
    }  # fmt: skip
    start, end = day_range.moments()
    params = {"start": start, "end": end, "since": day_range.since, "until": day_range.until,
              "analyst": analyst_id}  # fmt: skip
    figures = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, params)
            figures[name] = [list(row) for row in cursor.fetchall()]
    return figures


def new_figures(day_range: DayRange, analyst_id=None) -> dict[str, list[list]]:
    return {
        "per_analyst": health.labels_per_analyst(day_range, analyst_id=analyst_id),
        "agreement": health.agreement_on_shared_accounts(day_range, analyst_id=analyst_id),
        "guards": health.guards_per_day(day_range, analyst_id=analyst_id),
        "flips": health.flips_and_retractions_per_day(day_range, analyst_id=analyst_id),
    }


def rollup_rows() -> list[tuple]:
    """Each key's sums (the rollup's rows are deltas, summed on read)."""
    return sorted(
        LabelDayRollup.objects.values("day", "analyst_id", "label", "hold_reason")
        .annotate(all_versions=Sum("versions"), all_flips=Sum("flips"))
        .filter(all_versions__gt=0)
        .values_list("day", "analyst_id", "label", "hold_reason", "all_versions", "all_flips"),
        key=repr,
    )


def fact_day_changes(day: date) -> int:
    return LabelFactDay.objects.filter(day=day).aggregate(changes=Sum("changes"))["changes"] or 0


def test_label_health_figures_exact_and_equal_to_counting_every_version():
    alice, bob, carol = built_labels()

    figures = new_figures(NOVEMBER)

    d2, d3, d4 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
    assert figures["per_analyst"] == [
        [d2, "alice", 2, 1], [d3, "bob", 3, 1], [d4, "alice", 1, 0], [d4, "carol", 1, 1],
    ]  # fmt: skip
    assert figures["guards"] == [[d3, "contradiction_burst", 1]]
    assert [[day, int(flips), int(retractions)] for day, flips, retractions in figures["flips"]] == [
        [d3, 1, 0], [d4, 1, 0],
    ]  # fmt: skip
    # The shared account's current labels: tx1 bob (legitimate), tx2 alice (legitimate), tx4
    # alice (legitimate): alice and bob share it and agree.
    assert figures["agreement"] == [["alice", 1, 1, 1.0], ["bob", 1, 1, 1.0]]
    assert figures == old_figures(NOVEMBER)
    assert new_figures(NOVEMBER, analyst_id=bob.pk) == old_figures(NOVEMBER, analyst_id=bob.pk)
    assert new_figures(DayRange(d3, d3)) == old_figures(DayRange(d3, d3))


def test_the_rollup_follows_updates_and_equals_its_rebuild():
    alice, bob, carol = built_labels()
    version = LabelVersion.objects.get(analyst=alice, decided_at=at(2, 23))
    version.hold_reason = HoldReason.FLIP_OF_EXPORTED
    version.save(update_fields=["hold_reason"])
    carol.delete()  # her versions' analyst becomes null: "(removed)"

    kept = rollup_rows()
    figures = new_figures(NOVEMBER)
    rollups_rebuild()

    assert rollup_rows() == kept
    assert figures == old_figures(NOVEMBER)
    assert [date(2026, 11, 4), "(removed)", 1, 1] in figures["per_analyst"]
    assert figures["guards"] == [
        [date(2026, 11, 2), "flip_of_exported", 1], [date(2026, 11, 3), "contradiction_burst", 1],
    ]  # fmt: skip


def test_agreement_is_cached_until_a_label_of_the_range_changes(django_assert_num_queries):
    alice, bob, carol = built_labels()
    first = health.agreement_on_shared_accounts(NOVEMBER)
    assert first == [["alice", 1, 1, 1.0], ["bob", 1, 1, 1.0]]

    with django_assert_num_queries(1):  # the version only: the figures come from the cache
        assert health.agreement_on_shared_accounts(NOVEMBER) == first

    # Bob now says fraud on tx2 (alice: legitimate, superseded): the shared account disagrees.
    tx2 = LabelVersion.objects.get(analyst=alice, decided_at=at(2, 23)).transaction
    record(bob, tx2, "fraud", at(5))

    changed = health.agreement_on_shared_accounts(NOVEMBER)
    assert changed == [["alice", 1, 0, 0.0], ["bob", 1, 0, 0.0]]
    assert changed == old_figures(NOVEMBER)["agreement"]

    # A renamed analyst is a new key too.
    bob.username = "robert"
    bob.save(update_fields=["username"])
    assert health.agreement_on_shared_accounts(NOVEMBER) == [
        ["alice", 1, 0, 0.0], ["robert", 1, 0, 0.0],
    ]  # fmt: skip


def test_rebuilding_the_label_facts_counts_as_a_change():
    built_labels()
    before = fact_day_changes(date(2026, 11, 2))

    rollups_rebuild()

    assert fact_day_changes(date(2026, 11, 2)) > before


def test_compacting_the_counters_keeps_every_figure_and_is_idempotent():
    alice, bob, carol = built_labels()
    version = LabelVersion.objects.get(analyst=alice, decided_at=at(2, 23))
    version.hold_reason = HoldReason.FLIP_OF_EXPORTED  # a -1 row and a +1 row
    version.save(update_fields=["hold_reason"])
    figures, sums = new_figures(NOVEMBER), rollup_rows()
    changes = {day: fact_day_changes(day) for day in (date(2026, 11, 2), date(2026, 11, 3))}
    rows_before = LabelDayRollup.objects.count()

    removed = label_counters_compact()

    # One row per key left (the key whose versions sum to nothing gone), the sums unchanged.
    assert (
        LabelDayRollup.objects.count()
        == len(sums)
        == rows_before - removed["analytics_labeldayrollup"]
    )
    assert LabelFactDay.objects.filter(day=date(2026, 11, 2)).count() == 1
    assert rollup_rows() == sums
    assert new_figures(NOVEMBER) == figures == old_figures(NOVEMBER)
    assert {day: fact_day_changes(day) for day in changes} == changes
    assert label_counters_compact() == {"analytics_labeldayrollup": 0, "analytics_labelfactday": 0}
    assert rollup_rows() == sums


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beats_compaction_task_folds_the_counters_through_a_real_worker(celery_worker_factory):
    from fraudcase.celery import app

    built_labels()
    sums = rollup_rows()
    assert LabelFactDay.objects.filter(day=date(2026, 11, 2)).count() > 1
    worker = celery_worker_factory()

    app.send_task("analytics.tasks.compact_label_counters")

    wait_until(
        lambda: LabelFactDay.objects.filter(day=date(2026, 11, 2)).count() == 1, timeout=60,
        message=lambda: f"the counters to be folded; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert LabelDayRollup.objects.count() == len(sums)
    assert rollup_rows() == sums
