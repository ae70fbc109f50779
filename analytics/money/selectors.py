"""Money over time in the reporting currency: amount at risk (flagged), confirmed as fraud,
saved by blocks, converted in SQL; amounts without a rate for their day shown apart.

The sums are kept raw per day and currency (the ingest's CurrencyRollup for the amounts at
risk; the label facts, grouped by day and currency, for the confirmed and saved amounts) and
converted at read time: each (day, currency) sum takes the rate of that day
(cases.currency.selectors.reporting_rates_sql, RateBook's rule: the newest rate on or before
the day, direct, inverse or through one other currency), rounded to the cent once per day and
currency. A sum with no rate for its day is never converted: it is counted and listed in its
own currency, and left out of the converted figures. A rate loaded later applies at once to
every day it covers (the case pages keep the conversion made at ingest; only unfinished cases
are converted again when rates load, docs/exchange-rates.md).

Days are the transactions' days in TIME_ZONE, which is UTC: the exchange rates' day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection

from analytics.common.facts_cache import label_fact_rows
from analytics.common.ranges import DayRange
from cases.currency.rates import reporting_currency
from cases.currency.selectors import reporting_rate_params, reporting_rates_sql

# (day, currency) -> confirmed fraud, saved by blocks: raw sums of the label facts. Cached
# until a fact of the range changes; no rate enters it, so a new rate needs no new key.
_LABELLED_SQL = """
SELECT f.day, f.currency, count(*) FILTER (WHERE f.label = 'fraud'),
       coalesce(sum(f.amount) FILTER (WHERE f.label = 'fraud'), 0),
       coalesce(sum(f.amount) FILTER (
           WHERE f.label = 'fraud' AND coalesce(nullif(f.decision, ''), f.outcome) = 'block'), 0)
FROM analytics_labelfact f WHERE f.day BETWEEN %(since)s AND %(until)s
GROUP BY 1, 2 HAVING count(*) FILTER (WHERE f.label = 'fraud') > 0"""

# Every (day, currency) of the range with its raw sums, at risk from the rollups and the
# labelled ones from the rows above, and its rate (NULL: none for that day).
_CONVERTED_SQL = f"""
WITH at_risk AS (
    SELECT r.day, r.currency, sum(r.transactions)::bigint AS flagged, sum(r.amount) AS at_risk
    FROM analytics_currencyrollup r WHERE r.day BETWEEN %(since)s AND %(until)s GROUP BY 1, 2
), labelled AS (
    SELECT * FROM unnest(%(l_day)s::date[], %(l_currency)s::varchar[], %(l_fraud)s::int8[],
                         %(l_confirmed)s::numeric[], %(l_saved)s::numeric[])
        AS l(day, currency, fraud, confirmed, saved)
), sums AS (
    SELECT day, currency, coalesce(a.flagged, 0) AS flagged, coalesce(a.at_risk, 0) AS at_risk,
           coalesce(l.fraud, 0) AS fraud, coalesce(l.confirmed, 0) AS confirmed,
           coalesce(l.saved, 0) AS saved
    FROM at_risk a FULL JOIN labelled l USING (day, currency)
), rates AS ({reporting_rates_sql("(SELECT DISTINCT day, currency FROM sums)")})
SELECT s.day, s.currency, s.flagged, s.at_risk, s.fraud, s.confirmed, s.saved, rates.rate,
       round(s.at_risk * rates.rate, 2), round(s.confirmed * rates.rate, 2),
       round(s.saved * rates.rate, 2)
FROM sums s JOIN rates USING (day, currency)
ORDER BY s.day, s.currency COLLATE "C"
"""


@dataclass
class MoneyReport:
    """daily: [day, at risk, confirmed fraud, saved by blocks, flagged transactions without a
    rate] (the amounts in the reporting currency, rates found only); unconverted: [currency,
    flagged transactions, at risk, fraud-labelled transactions, confirmed fraud, saved by
    blocks, first day, last day] per currency with a day of the range that has no rate (raw
    sums, in that currency)."""

    reporting_currency: str
    daily: list[list] = field(default_factory=list)
    unconverted: list[list] = field(default_factory=list)

    @property
    def unconverted_transactions(self) -> int:
        return sum(row[1] + row[3] for row in self.unconverted)

    def running_totals(self) -> list[list]:
        """[day, at risk, confirmed fraud, saved by blocks] summed from the range's first day."""
        running, totals = [], [Decimal(0)] * 3
        for day, *amounts, _ in self.daily:
            totals = [total + amount for total, amount in zip(totals, amounts, strict=True)]
            running.append([day, *totals])
        return running


def money_per_day(day_range: DayRange) -> MoneyReport:
    """The money dashboard's figures by the transactions' day (see the module's docstring).

    At risk: every flagged transaction. Confirmed fraud: labelled fraud by an analyst. Saved
    by blocks: confirmed fraud that was blocked (the analyst's decision, else the detector's).
    Two statements: the label facts' part (cached until a fact of the range changes) and the
    conversion over the rollups and those rows.
    """
    params = {"since": day_range.since, "until": day_range.until}
    labelled = label_fact_rows("money-by-currency", _LABELLED_SQL, params, day_range)
    with connection.cursor() as cursor:
        cursor.execute(
            _CONVERTED_SQL,
            {**params, **reporting_rate_params(),
             "l_day": [row[0] for row in labelled], "l_currency": [row[1] for row in labelled],
             "l_fraud": [row[2] for row in labelled], "l_confirmed": [row[3] for row in labelled],
             "l_saved": [row[4] for row in labelled]},
        )  # fmt: skip
        rows = cursor.fetchall()
    report = MoneyReport(reporting_currency=reporting_currency())
    days: dict[date, list] = {}
    unconverted: dict[str, list] = {}
    for day, currency, flagged, at_risk, fraud, confirmed, saved, rate, *converted in rows:
        figures = days.setdefault(day, [day, Decimal(0), Decimal(0), Decimal(0), 0])
        if rate is None:
            figures[4] += flagged
            row = unconverted.setdefault(
                currency, [currency, 0, Decimal(0), 0, Decimal(0), Decimal(0), day, day]
            )
            row[1] += flagged
            row[2] += at_risk
            row[3] += fraud
            row[4] += confirmed
            row[5] += saved
            row[7] = day
        else:
            for index, amount in enumerate(converted, start=1):
                figures[index] += amount
    report.daily = [days[day] for day in sorted(days)]
    report.unconverted = [unconverted[currency] for currency in sorted(unconverted)]
    return report
