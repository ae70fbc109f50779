"""Label health in SQL: labels per analyst and day, agreement between analysts on shared
accounts, labels held by the guards, flips and retractions. analyst_id (not None) limits each
figure to that analyst's own labels.

Versions, guards and flips per day read the trigger-kept LabelDayRollup (a few rows per day
and analyst) instead of every label version of the range; agreement reads the label facts of
the range, cached until one of them changes (LabelFactDay).
Days are TIME_ZONE's (the rollups' and the facts' days)."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from analytics.common.ranges import DayRange


def _rows(sql: str, day_range: DayRange, analyst_id: int | None) -> list[list]:
    start, end = day_range.moments()
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "zone": timezone.get_current_timezone_name(), "start": start, "end": end,
            "since": day_range.since, "until": day_range.until, "analyst": analyst_id,
        })  # fmt: skip
        return [list(row) for row in cursor.fetchall()]


def _mine(analyst_id: int | None, column: str) -> str:
    return "" if analyst_id is None else f"AND {column} = %(analyst)s"


def labels_per_analyst(day_range: DayRange, *, analyst_id: int | None = None) -> list[list]:
    """[day, analyst, label versions written, of them fraud]."""
    return _rows(
        f"""SELECT r.day, coalesce(u.username, '(removed)'), sum(r.versions)::int8,
                   coalesce(sum(r.versions) FILTER (WHERE r.label = 'fraud'), 0)::int8
            FROM analytics_labeldayrollup r LEFT JOIN auth_user u ON u.id = r.analyst_id
            WHERE r.day BETWEEN %(since)s AND %(until)s {_mine(analyst_id, "r.analyst_id")}
            GROUP BY 1, 2 HAVING sum(r.versions) > 0 ORDER BY 1, 2""",
        day_range, analyst_id,
    )  # fmt: skip


# Accounts with current labels by two analysts or more in the range, each with its analysts
# and whether all its labels agree, then per analyst. Grouped by the account's bytes (COLLATE
# "C": the same groups, a cheaper sort).
_AGREEMENT_SQL = """
WITH shared AS (
    SELECT array_agg(DISTINCT labelled_by_id) AS analysts,
           min(label COLLATE "C") = max(label COLLATE "C") AS agree
    FROM analytics_labelfact
    WHERE day BETWEEN %(since)s AND %(until)s AND labelled_by_id IS NOT NULL
    GROUP BY account_id COLLATE "C" HAVING count(DISTINCT labelled_by_id) >= 2
)
SELECT coalesce(u.username, '(removed)'), count(*), count(*) FILTER (WHERE shared.agree),
       round(avg(shared.agree::int), 4)::float8
FROM shared CROSS JOIN unnest(shared.analysts) AS mine(analyst_id)
LEFT JOIN auth_user u ON u.id = mine.analyst_id
WHERE true {mine}
GROUP BY 1 ORDER BY 1
"""

# What the agreement figures depend on: the label facts' changes on the range's days
# (LabelFactDay, trigger-kept) and the analysts' names.
_AGREEMENT_VERSION_SQL = """
SELECT (SELECT coalesce(sum(changes), 0) FROM analytics_labelfactday
        WHERE day BETWEEN %(since)s AND %(until)s),
       (SELECT md5(coalesce(string_agg(id || ':' || username, ',' ORDER BY id), '')) FROM auth_user)
"""
AGREEMENT_CACHE_SECONDS = 600  # bounds what a restored database (counters gone back) could serve


def agreement_on_shared_accounts(day_range: DayRange, *, analyst_id: int | None = None):
    """[analyst, accounts shared with another analyst, accounts where all labels agree, share]:
    accounts whose transactions (of the range) carry current labels by two analysts or more.

    Cached under the range's label-fact changes and the analysts' names: a label written,
    changed or removed on a day of the range, or a user renamed, gives a new key (it reads
    every label fact of the range: ~1 s at 200k labels)."""
    ((changes, names),) = _rows(_AGREEMENT_VERSION_SQL, day_range, analyst_id)
    key = f"analytics:agreement:{day_range.since}:{day_range.until}:{analyst_id}:{changes}:{names}"
    found = cache.get(key)
    if found is None:
        found = _rows(
            _AGREEMENT_SQL.format(mine=_mine(analyst_id, "mine.analyst_id")), day_range, analyst_id
        )
        cache.set(key, found, timeout=AGREEMENT_CACHE_SECONDS)
    return found


def guards_per_day(day_range: DayRange, *, analyst_id: int | None = None) -> list[list]:
    """[day, hold reason, labels held by the guards (whatever became of them since)]."""
    return _rows(
        f"""SELECT r.day, r.hold_reason, sum(r.versions)::int8
            FROM analytics_labeldayrollup r
            WHERE r.hold_reason <> '' AND r.day BETWEEN %(since)s AND %(until)s
            {_mine(analyst_id, "r.analyst_id")}
            GROUP BY 1, 2 HAVING sum(r.versions) > 0 ORDER BY 1, 2""",
        day_range,
        analyst_id,
    )


def flips_and_retractions_per_day(day_range: DayRange, *, analyst_id: int | None = None):
    """[day, flips (a version changing the label before it), retractions of exported ones]."""
    return _rows(
        f"""SELECT day, sum(flips), sum(retractions) FROM (
                SELECT r.day, sum(r.flips) AS flips, 0 AS retractions
                FROM analytics_labeldayrollup r
                WHERE r.day BETWEEN %(since)s AND %(until)s {_mine(analyst_id, "r.analyst_id")}
                GROUP BY 1 HAVING sum(r.flips) > 0
                UNION ALL
                SELECT (o.created_at AT TIME ZONE %(zone)s)::date, 0, count(*)
                FROM cases_labeloutbox o JOIN cases_labelversion v ON v.id = o.label_version_id
                WHERE o.action = 'retract' AND o.created_at >= %(start)s AND o.created_at < %(end)s
                {_mine(analyst_id, "v.analyst_id")}
                GROUP BY 1
            ) AS days GROUP BY day ORDER BY day""",
        day_range,
        analyst_id,
    )
