"""Exchange rates read in SQL: the twin of cases.currency.rates.RateBook.rate for queries that
convert many (currency, day) sums at once (the money dashboard) without loading rates into
Python.

reporting_rates_sql(keys) is a SELECT of (currency, day, rate) for each row of keys (a SQL
relation with columns currency and day): the reporting-currency units per unit of currency on
day, chosen exactly as RateBook.rate chooses it (the currency itself: 1; else the newest rate
on or before the day of the pair (currency, reporting), else of its inverse, else through one
other currency, the first of them in code order that converts), NULL when nothing covers the
day. cases/tests/test_currency_sql.py holds it to RateBook.rate.
"""

from __future__ import annotations

from cases.currency.rates import reporting_currency

# The newest rate of a pair on or before a day, either way round: {a} -> {b} on {day}.
_ONE_WAY = """(SELECT e.rate FROM cases_exchangerate e
    WHERE e.currency = {a} AND e.quote_currency = {b} AND e.valid_from <= {day}
    ORDER BY e.valid_from DESC LIMIT 1)"""
_BACK_WAY = """(SELECT 1 / e.rate FROM cases_exchangerate e
    WHERE e.currency = {b} AND e.quote_currency = {a} AND e.valid_from <= {day}
    ORDER BY e.valid_from DESC LIMIT 1)"""


def _either_way(a: str, b: str, day: str) -> str:
    return f"coalesce({_ONE_WAY.format(a=a, b=b, day=day)}, {_BACK_WAY.format(a=a, b=b, day=day)})"


def reporting_rates_sql(keys: str, *, reporting_param: str = "reporting") -> str:
    """SQL giving (currency, day, rate) per row of keys; the reporting currency is the query
    parameter %(reporting_param)s (reporting_rate_params gives it).

    Each rate is a few index lookups on the pair and day (the unique (currency,
    quote_currency, valid_from) index); the currencies a key's currency has rates with (the
    candidates for a step through another currency) are found once per query (materialised:
    inlined, PostgreSQL scanned the rates once per key), and looked at only when neither the
    pair nor its inverse has a rate for the day. 180 keys over 34k rates: about 50 ms."""
    reporting = f"%({reporting_param})s"
    return f"""
WITH rate_keys AS MATERIALIZED (SELECT DISTINCT currency, day FROM {keys} AS given),
neighbours AS MATERIALIZED (  -- once per query, not per key
    SELECT n.currency, n.quote_currency AS third
    FROM cases_exchangerate n WHERE n.currency IN (SELECT currency FROM rate_keys)
    UNION
    SELECT n.quote_currency, n.currency
    FROM cases_exchangerate n WHERE n.quote_currency IN (SELECT currency FROM rate_keys)
)
SELECT k.currency, k.day, CASE
    WHEN k.currency = {reporting} THEN 1::numeric
    ELSE coalesce({_either_way("k.currency", reporting, "k.day")}, (
        SELECT step.rate * onward.rate
        FROM neighbours AS thirds
        CROSS JOIN LATERAL (SELECT {_either_way("k.currency", "thirds.third", "k.day")} AS rate) AS step
        CROSS JOIN LATERAL (SELECT CASE WHEN thirds.third = {reporting} THEN NULL
                                        ELSE {_either_way("thirds.third", reporting, "k.day")}
                                   END AS rate) AS onward
        WHERE thirds.currency = k.currency
          AND step.rate IS NOT NULL AND onward.rate IS NOT NULL
        ORDER BY thirds.third COLLATE "C" LIMIT 1))
    END AS rate
FROM rate_keys AS k"""  # noqa: E501


def reporting_rate_params(reporting_param: str = "reporting") -> dict[str, str]:
    return {reporting_param: reporting_currency()}
