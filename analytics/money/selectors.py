"""Money over time: amount at risk (flagged), confirmed as fraud, saved by blocks (SQL)."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection

from analytics.common.facts_cache import label_fact_rows
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

    The confirmed and saved amounts read every label fact of the range: their rows are cached
    until a fact of the range changes (analytics.common.facts_cache); the amounts at risk come
    from the ingest rollups each time. The two are added per day as SQL's sum over their
    UNION ALL would: NULLs left out, NULL when a day has none.
    """
    flagged, fact = amount_sql("r"), amount_sql("f")
    params = {"since": day_range.since, "until": day_range.until}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT r.day, sum({flagged}) FROM analytics_batchrollup r
                WHERE r.day BETWEEN %(since)s AND %(until)s GROUP BY 1""",
            params,
        )
        at_risk = cursor.fetchall()
    labelled = label_fact_rows(
        "money",
        f"""SELECT f.day, sum({fact}) FILTER (WHERE f.label = 'fraud'),
                   coalesce(sum({fact}) FILTER (
                       WHERE f.label = 'fraud'
                         AND coalesce(nullif(f.decision, ''), f.outcome) = 'block'), 0)
            FROM analytics_labelfact f WHERE f.day BETWEEN %(since)s AND %(until)s GROUP BY 1""",
        params,
        day_range,
    )
    days: dict = {}
    for day, amount in at_risk:
        days.setdefault(day, [[], [], []])[0].append(amount)
        days[day][1].append(Decimal(0))
        days[day][2].append(Decimal(0))
    for day, confirmed, saved in labelled:
        parts = days.setdefault(day, [[], [], []])
        parts[0].append(Decimal(0))
        parts[1].append(confirmed)
        parts[2].append(saved)
    return [[day, *(_sql_sum(values) for values in days[day])] for day in sorted(days)]


def _sql_sum(values: list) -> Decimal | None:
    present = [Decimal(value) for value in values if value is not None]
    return sum(present, Decimal(0)) if present else None
