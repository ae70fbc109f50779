"""The team's operations in SQL: flagged volume, cases by queue and age, SLA, analysts'
throughput and times from the audit trail, reassignments, the label-export backlog and the
ingest runs' books. Each function returns table rows (lists), one GROUP BY each.

analyst_id (not None) limits the analysts' figures to that analyst's own. now, unless given,
is the database's now() (cases.clock): SLA and age figures do not depend on a host's clock.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from analytics.common.ranges import DayRange
from cases.audit.trail import SYSTEM_USERNAME

# Audit actions that mean a person picked the case up (time to first touch).
TOUCH_ACTIONS = (
    "case_viewed", "case_assigned", "case_status_changed", "note_added", "transaction_decided",
    "transaction_labelled", "case_closed", "case_tagged", "attachment_added",
)  # fmt: skip
AGE_BUCKETS = ((1, "< 1 day"), (3, "1-3 days"), (7, "3-7 days"), (30, "7-30 days"), (None, "> 30 days"))  # fmt: skip
BREACH_BUCKETS = ((0, "breached"), (1, "< 1 h"), (4, "1-4 h"), (24, "4-24 h"), (None, "> 24 h"))  # fmt: skip
FINISHED = ("closed", "merged")
# The case figures count per queue id first (an integer: a cheap hash of some 50k cases) and
# name the few groups after (the same groups: by name, so two queues of one name add up).
_QUEUE = "coalesce(q.name, '(no queue)')"


def _rows(sql: str, params: dict) -> list[list]:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"zone": timezone.get_current_timezone_name(), **params})
        return [list(row) for row in cursor.fetchall()]


def _range(day_range: DayRange) -> dict:
    start, end = day_range.moments()
    return {"since": day_range.since, "until": day_range.until, "start": start, "end": end}


def flagged_per_day(day_range: DayRange) -> list[list]:
    """[day, approve, investigate, block, no outcome] from the ingest rollups."""
    return _rows(
        """SELECT day, sum(approve), sum(investigate), sum(block), sum(no_outcome)
           FROM analytics_batchrollup WHERE day BETWEEN %(since)s AND %(until)s
           GROUP BY day ORDER BY day""",
        _range(day_range),
    )


def cases_opened_per_day(day_range: DayRange) -> list[list]:
    """[day, queue, cases opened, of them closed since]."""
    return _rows(
        f"""SELECT g.day, {_QUEUE}, sum(g.opened)::int8, sum(g.finished)::int8
            FROM (SELECT (c.opened_at AT TIME ZONE %(zone)s)::date AS day, c.queue_id,
                         count(*) AS opened,
                         count(*) FILTER (WHERE c.status = ANY(%(finished)s)) AS finished
                  FROM cases_case c
                  WHERE c.opened_at >= %(start)s AND c.opened_at < %(end)s
                  GROUP BY 1, 2) AS g
            LEFT JOIN cases_queue q ON q.id = g.queue_id
            GROUP BY 1, 2 ORDER BY 1, 2""",
        {**_range(day_range), "finished": list(FINISHED)},
    )


def cases_closed_per_day(day_range: DayRange) -> list[list]:
    """[day, queue, resolution, cases closed] by the close's day: the cases' outcomes."""
    return _rows(
        f"""SELECT g.day, {_QUEUE}, g.resolution, sum(g.closed)::int8
            FROM (SELECT (c.closed_at AT TIME ZONE %(zone)s)::date AS day, c.queue_id,
                         coalesce(nullif(c.resolution, ''), '(none)') AS resolution,
                         count(*) AS closed
                  FROM cases_case c
                  WHERE c.status = 'closed' AND c.closed_at >= %(start)s
                    AND c.closed_at < %(end)s
                  GROUP BY 1, 2, 3) AS g
            LEFT JOIN cases_queue q ON q.id = g.queue_id
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        _range(day_range),
    )


def open_cases_by_age(*, now=None) -> list[list]:
    """[queue, age bucket, open cases] for the cases open now."""
    # The bucket: how many bounds the age has reached (width_bucket's number), each bound a
    # comparison of timestamps (age >= b days <=> opened_at <= now - b days in seconds).
    bucket = " + ".join(
        f"(c.opened_at <= n.at - interval '{int(b * 86400)} seconds')::int"
        for b, _ in AGE_BUCKETS if b is not None
    )  # fmt: skip
    rows = _rows(
        f"""SELECT {_QUEUE}, g.bucket, sum(g.cases)::int8
            FROM (SELECT c.queue_id, {bucket} AS bucket, count(*) AS cases
                  FROM cases_case c CROSS JOIN (SELECT coalesce(%(now)s::timestamptz, now()) AS at) AS n
                  WHERE c.status <> ALL(%(finished)s) GROUP BY 1, 2) AS g
            LEFT JOIN cases_queue q ON q.id = g.queue_id
            GROUP BY 1, 2 ORDER BY 1, 2""",
        {"now": now, "finished": list(FINISHED)},
    )
    return [[queue, AGE_BUCKETS[bucket][1], n] for queue, bucket, n in rows]


def sla_breaches_per_day(day_range: DayRange, *, now=None) -> list[list]:
    """[day the SLA fell due, queue, due, breached]: breached = closed after it, or still open
    past it."""
    return _rows(
        f"""SELECT g.day, {_QUEUE}, sum(g.due)::int8, sum(g.breached)::int8
            FROM (SELECT (c.due_at AT TIME ZONE %(zone)s)::date AS day, c.queue_id, count(*) AS due,
                         count(*) FILTER (WHERE (c.closed_at IS NOT NULL AND c.closed_at > c.due_at)
                                          OR (c.closed_at IS NULL AND c.status <> ALL(%(finished)s)
                                              AND c.due_at < coalesce(%(now)s::timestamptz, now()))) AS breached
                  FROM cases_case c
                  WHERE c.due_at >= %(start)s AND c.due_at < %(end)s
                  GROUP BY 1, 2) AS g
            LEFT JOIN cases_queue q ON q.id = g.queue_id
            GROUP BY 1, 2 ORDER BY 1, 2""",
        {**_range(day_range), "now": now, "finished": list(FINISHED)},
    )


def time_to_breach(*, now=None) -> list[list]:
    """[queue, time left, open cases] for open cases with an SLA."""
    # The bucket: how many bounds the time left has reached (time left >= b hours <=> due_at
    # >= now + b hours in seconds); 0: below 0 hours (breached), i for the i-th bound passed.
    bucket = " + ".join(
        f"(c.due_at >= n.at + interval '{int(b * 3600)} seconds')::int"
        for b, _ in BREACH_BUCKETS if b is not None
    )  # fmt: skip
    rows = _rows(
        f"""SELECT {_QUEUE}, g.bucket, sum(g.cases)::int8
            FROM (SELECT c.queue_id, {bucket} AS bucket, count(*) AS cases
                  FROM cases_case c CROSS JOIN (SELECT coalesce(%(now)s::timestamptz, now()) AS at) AS n
                  WHERE c.status <> ALL(%(finished)s) AND c.due_at IS NOT NULL
                  GROUP BY 1, 2) AS g
            LEFT JOIN cases_queue q ON q.id = g.queue_id
            GROUP BY 1, 2 ORDER BY 1, 2""",
        {"now": now, "finished": list(FINISHED)},
    )
    return [[queue, BREACH_BUCKETS[bucket][1] if bucket else BREACH_BUCKETS[0][1], n]
            for queue, bucket, n in rows]  # fmt: skip


def _analyst_clause(analyst_id: int | None, column: str = "e.actor_id") -> str:
    return "" if analyst_id is None else f"AND {column} = %(analyst)s"


def closes_per_analyst(day_range: DayRange, *, analyst_id: int | None = None) -> list[list]:
    """[day, analyst, cases closed] from the audit trail (who closed each)."""
    return _rows(
        f"""SELECT (e.occurred_at AT TIME ZONE %(zone)s)::date, e.actor_name, count(*)
            FROM cases_auditevent e
            WHERE e.action = 'case_closed' AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
            {_analyst_clause(analyst_id)}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        {**_range(day_range), "analyst": analyst_id},
    )


def analyst_times(day_range: DayRange, *, analyst_id: int | None = None) -> list[list]:
    """[analyst, cases closed, median hours to first touch, median hours to close] for the
    cases closed in the range, by who closed them; first touch: the first audit event by a
    person (not the system) that works or reads the case."""
    return _rows(
        f"""WITH closes AS (
                SELECT DISTINCT ON (e.object_id) e.object_id, e.actor_name
                FROM cases_auditevent e
                WHERE e.action = 'case_closed' AND e.object_type = 'cases.case'
                  AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
                  {_analyst_clause(analyst_id)}
                ORDER BY e.object_id, e.occurred_at DESC
            ), touches AS (
                SELECT e.object_id, min(e.occurred_at) AS first_touch
                FROM cases_auditevent e JOIN closes USING (object_id)
                WHERE e.object_type = 'cases.case' AND e.action = ANY(%(touch)s)
                  AND e.actor_id IS NOT NULL AND e.actor_name <> %(system)s
                GROUP BY e.object_id
            )
            SELECT closes.actor_name, count(*),
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM touches.first_touch - c.opened_at) / 3600.0),
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM c.closed_at - c.opened_at) / 3600.0)
            FROM closes JOIN cases_case c ON c.id = closes.object_id::bigint
            LEFT JOIN touches USING (object_id)
            GROUP BY 1 ORDER BY 1""",
        {**_range(day_range), "analyst": analyst_id, "touch": list(TOUCH_ACTIONS),
         "system": SYSTEM_USERNAME},
    )  # fmt: skip


def reassignments_per_day(day_range: DayRange, *, analyst_name: str | None = None) -> list[list]:
    """[day, reassignments]: a case taken from one assignee and given to another."""
    clause = (
        ""
        if analyst_name is None
        else ("AND (e.before->>'assignee' = %(name)s OR e.after->>'assignee' = %(name)s)")
    )
    return _rows(
        f"""SELECT (e.occurred_at AT TIME ZONE %(zone)s)::date, count(*)
            FROM cases_auditevent e
            WHERE e.action = 'case_assigned' AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
              AND e.before->>'assignee' IS NOT NULL
              AND e.before->>'assignee' IS DISTINCT FROM e.after->>'assignee' {clause}
            GROUP BY 1 ORDER BY 1""",
        {**_range(day_range), "name": analyst_name},
    )


def label_export_per_day(day_range: DayRange) -> list[list]:
    """[day, label versions queued for export, exported that day]."""
    return _rows(
        """SELECT day, sum(queued), sum(exported) FROM (
               SELECT (o.created_at AT TIME ZONE %(zone)s)::date AS day, count(*) AS queued, 0 AS exported
               FROM cases_labeloutbox o WHERE o.created_at >= %(start)s AND o.created_at < %(end)s
               GROUP BY 1
               UNION ALL
               SELECT (b.exported_at AT TIME ZONE %(zone)s)::date, 0, sum(b.row_count)
               FROM cases_labelexportbatch b
               WHERE b.exported_at >= %(start)s AND b.exported_at < %(end)s GROUP BY 1
           ) AS days GROUP BY day ORDER BY day""",
        _range(day_range),
    )


def ingest_books_per_day(day_range: DayRange) -> list[list]:
    """[day, runs, rows read, loaded, duplicates, quarantined] of the runs created that day."""
    return _rows(
        """SELECT (r.created_at AT TIME ZONE %(zone)s)::date, count(*), sum(r.rows_read),
                  sum(r.rows_loaded), sum(r.rows_duplicate), sum(r.rows_quarantined)
           FROM cases_ingestrun r WHERE r.created_at >= %(start)s AND r.created_at < %(end)s
           GROUP BY 1 ORDER BY 1""",
        _range(day_range),
    )
