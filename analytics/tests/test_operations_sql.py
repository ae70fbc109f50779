"""The operations page's case figures, counted per queue id and named after, equal the
statements that grouped every case by its queue's name (kept here to compare with)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from analytics.common.ranges import DayRange
from analytics.operations import selectors as ops
from cases.tests.workflow_fixtures import make_case, make_queue

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30))
FINISHED = ["closed", "merged"]

OLD_OPENED = """SELECT (c.opened_at AT TIME ZONE %(zone)s)::date, coalesce(q.name, '(no queue)'),
    count(*), count(*) FILTER (WHERE c.status = ANY(%(finished)s))
FROM cases_case c LEFT JOIN cases_queue q ON q.id = c.queue_id
WHERE c.opened_at >= %(start)s AND c.opened_at < %(end)s GROUP BY 1, 2 ORDER BY 1, 2"""
OLD_AGE = """SELECT coalesce(q.name, '(no queue)'),
    width_bucket(extract(epoch FROM %(now)s::timestamptz - c.opened_at) / 86400.0, %(bounds)s::float8[]),
    count(*)
FROM cases_case c LEFT JOIN cases_queue q ON q.id = c.queue_id
WHERE c.status <> ALL(%(finished)s) GROUP BY 1, 2 ORDER BY 1, 2"""
OLD_SLA = """SELECT (c.due_at AT TIME ZONE %(zone)s)::date, coalesce(q.name, '(no queue)'), count(*),
    count(*) FILTER (WHERE (c.closed_at IS NOT NULL AND c.closed_at > c.due_at)
                     OR (c.closed_at IS NULL AND c.status <> ALL(%(finished)s) AND c.due_at < %(now)s))
FROM cases_case c LEFT JOIN cases_queue q ON q.id = c.queue_id
WHERE c.due_at >= %(start)s AND c.due_at < %(end)s GROUP BY 1, 2 ORDER BY 1, 2"""
OLD_BREACH = """SELECT coalesce(q.name, '(no queue)'),
    width_bucket(extract(epoch FROM c.due_at - %(now)s::timestamptz) / 3600.0, %(bounds)s::float8[]),
    count(*)
FROM cases_case c LEFT JOIN cases_queue q ON q.id = c.queue_id
WHERE c.status <> ALL(%(finished)s) AND c.due_at IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"""


def old(sql: str, **params) -> list[list]:
    start, end = NOVEMBER.moments()
    with connection.cursor() as cursor:
        cursor.execute(sql, {"zone": timezone.get_current_timezone_name(), "start": start,
                             "end": end, "now": NOW, "finished": FINISHED, **params})  # fmt: skip
        return [list(row) for row in cursor.fetchall()]


def test_case_figures_equal_grouping_every_case_by_queue_name():
    general, fraud_ops = make_queue("General"), make_queue("Fraud ops")
    statuses = ["new", "in_review", "closed", "merged"]
    for index in range(18):
        queue = [general, fraud_ops, None][index % 3]
        opened = NOW - timedelta(days=index * 0.4, hours=index)
        status = statuses[index % len(statuses)]
        due = opened + timedelta(hours=[2, 30, 200][index % 3])
        closed = due + timedelta(hours=[-1, 1][index % 2]) if status == "closed" else None
        case = make_case(queue, transactions=0, status=status, due_at=due, closed_at=closed)
        type(case).objects.filter(pk=case.pk).update(opened_at=opened)
    make_case(general, transactions=0)  # no SLA, opened now

    age_bounds = [float(b) for b, _ in ops.AGE_BUCKETS if b is not None]
    breach_bounds = [float(b) for b, _ in ops.BREACH_BUCKETS if b is not None]
    assert ops.cases_opened_per_day(NOVEMBER) == old(OLD_OPENED)
    assert len(ops.cases_opened_per_day(NOVEMBER)) > 6
    assert ops.open_cases_by_age(now=NOW) == [
        [queue, ops.AGE_BUCKETS[bucket][1], n] for queue, bucket, n in old(OLD_AGE, bounds=age_bounds)
    ]  # fmt: skip
    assert ops.sla_breaches_per_day(NOVEMBER, now=NOW) == old(OLD_SLA)
    assert ops.time_to_breach(now=NOW) == [
        [queue, ops.BREACH_BUCKETS[bucket][1] if bucket else ops.BREACH_BUCKETS[0][1], n]
        for queue, bucket, n in old(OLD_BREACH, bounds=breach_bounds)
    ]  # fmt: skip
    assert {row[0] for row in ops.time_to_breach(now=NOW)} == {"General", "Fraud ops", "(no queue)"}


def test_age_and_time_left_on_the_bounds_fall_in_the_same_buckets():
    queue = make_queue("General")
    for age in (timedelta(days=1), timedelta(days=3), timedelta(days=7) - timedelta(microseconds=1),
                timedelta(days=30), timedelta(days=30, microseconds=1), timedelta(0)):  # fmt: skip
        case = make_case(queue, transactions=0)
        type(case).objects.filter(pk=case.pk).update(opened_at=NOW - age)
    for left in (timedelta(0), timedelta(microseconds=-1), timedelta(hours=1), timedelta(hours=4),
                 timedelta(hours=24) - timedelta(microseconds=1), timedelta(hours=24)):  # fmt: skip
        make_case(queue, transactions=0, due_at=NOW + left)

    age_bounds = [float(b) for b, _ in ops.AGE_BUCKETS if b is not None]
    breach_bounds = [float(b) for b, _ in ops.BREACH_BUCKETS if b is not None]
    assert ops.open_cases_by_age(now=NOW) == [
        [queue, ops.AGE_BUCKETS[bucket][1], n] for queue, bucket, n in old(OLD_AGE, bounds=age_bounds)
    ]  # fmt: skip
    assert ops.time_to_breach(now=NOW) == [
        [queue, ops.BREACH_BUCKETS[bucket][1] if bucket else ops.BREACH_BUCKETS[0][1], n]
        for queue, bucket, n in old(OLD_BREACH, bounds=breach_bounds)
    ]  # fmt: skip
    assert ops.time_to_breach(now=NOW) == [
        ["General", "breached", 1], ["General", "< 1 h", 1], ["General", "1-4 h", 1],
        ["General", "4-24 h", 2], ["General", "> 24 h", 1],
    ]  # fmt: skip
