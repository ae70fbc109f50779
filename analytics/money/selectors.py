"""Money over time: amount at risk (flagged), confirmed as fraud, saved by blocks (SQL)."""

from __future__ import annotations

from django.db import connection

from analytics.common.ranges import DayRange


def amount_sql(alias: str) -> str:
    """THE amount every money figure sums, as SQL over a rollup row (analytics_batchrollup)
    or a label fact (analytics_labelfact) called alias.

    For now the raw amount in each transaction's own currency: when transactions carry the
    amount in the reporting currency (exchange rates, issue 15), switch this to that column
    (kept in the rollups and label facts alike) and every money figure follows.
    """
    return f"{alias}.amount"


def money_per_day(day_range: DayRange) -> list[list]:
    """[day, at risk, confirmed fraud, saved by blocks] by the transactions' day.

    At risk: every flagged transaction. Confirmed fraud: labelled fraud by an analyst. Saved
    by blocks: confirmed fraud that was blocked (the analyst's decision, else the detector's).
    """
    flagged, fact = amount_sql("r"), amount_sql("f")
    sql = f"""
        SELECT day, sum(at_risk), sum(confirmed), sum(saved) FROM (
            SELECT r.day, sum({flagged}) AS at_risk, 0 AS confirmed, 0 AS saved
            FROM analytics_batchrollup r WHERE r.day BETWEEN %(since)s AND %(until)s GROUP BY 1
            UNION ALL
            SELECT f.day, 0, sum({fact}) FILTER (WHERE f.label = 'fraud'),
                   coalesce(sum({fact}) FILTER (
                       WHERE f.label = 'fraud'
                         AND coalesce(nullif(f.decision, ''), f.outcome) = 'block'), 0)
            FROM analytics_labelfact f WHERE f.day BETWEEN %(since)s AND %(until)s GROUP BY 1
        ) AS days GROUP BY day ORDER BY day"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": day_range.since, "until": day_range.until})
        return [list(row) for row in cursor.fetchall()]
