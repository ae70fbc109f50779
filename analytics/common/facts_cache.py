"""Figures over the label facts of a range of days, cached until one of those facts changes.

LabelFactDay (trigger-kept, migration 0004) counts every write, insert and removal of a label
fact per day (the transaction's day), in the same transaction as the change: the sum of the
counters of a range's days only grows, so a figure cached under it is never served after a
fact of the range changed. Reads that need only analytics_labelfact (quality, the money
page's confirmed and saved amounts, the curation page's labelled countries) run their SQL on
a miss and keep its rows.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.db import connection

from analytics.common.ranges import DayRange

# Bounds what a restored database (its counters gone back) could serve.
FACTS_CACHE_SECONDS = 600

_CHANGES_SQL = """SELECT coalesce(sum(changes), 0) FROM analytics_labelfactday
                  WHERE day BETWEEN %(since)s AND %(until)s"""


def label_fact_changes(day_range: DayRange) -> int:
    """The sum of the range's days' label-fact change counters."""
    with connection.cursor() as cursor:
        cursor.execute(_CHANGES_SQL, {"since": day_range.since, "until": day_range.until})
        return int(cursor.fetchone()[0])


def label_fact_rows(name: str, sql: str, params: dict, day_range: DayRange) -> list[tuple]:
    """sql's rows (it reads only analytics_labelfact within day_range), cached under the
    statement, its parameters and the range's label-fact changes."""
    changes = label_fact_changes(day_range)
    what = hashlib.sha256(repr((sql, sorted(params.items(), key=str))).encode()).hexdigest()
    key = f"analytics:facts:{name}:{day_range.since}:{day_range.until}:{changes}:{what}"
    found = cache.get(key)
    if found is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = [tuple(row) for row in cursor.fetchall()]
        cache.set(key, found, timeout=FACTS_CACHE_SECONDS)
    return found
