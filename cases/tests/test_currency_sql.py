"""The exchange rates in SQL (cases.currency.selectors) choose the rate RateBook chooses: the
currency itself, a direct rate, an inverse, through one other currency (the first that
converts, in code order), the newest on or before the day, nothing before the first."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings

from cases.currency.rates import RateBook
from cases.currency.selectors import reporting_rate_params, reporting_rates_sql
from cases.models import ExchangeRate

pytestmark = pytest.mark.django_db

RATES = [
    ("KRW", "EUR", "0.00069", date(2026, 1, 1)),
    ("KRW", "EUR", "0.00070", date(2026, 11, 1)),
    ("EUR", "CHF", "0.95", date(2026, 6, 1)),  # CHF only as the inverse of EUR -> CHF
    ("JPY", "USD", "0.0065", date(2026, 1, 1)),  # JPY through USD
    ("USD", "EUR", "0.92", date(2026, 3, 1)),
    ("JPY", "AUD", "0.0100", date(2026, 1, 1)),  # JPY through AUD too: AUD sorts first
    ("AUD", "EUR", "0.60", date(2026, 5, 1)),
    ("GBP", "SEK", "13.0", date(2026, 1, 1)),  # SEK -> GBP -> nothing: no rate
]
CURRENCIES = ["EUR", "KRW", "CHF", "JPY", "USD", "AUD", "GBP", "SEK", "NOK"]
DAYS = [date(2025, 12, 31), date(2026, 1, 1), date(2026, 3, 1), date(2026, 4, 15),
        date(2026, 5, 1), date(2026, 6, 1), date(2026, 10, 31), date(2026, 11, 1)]  # fmt: skip


def sql_rates(keys: list[tuple[str, date]]) -> dict[tuple[str, date], Decimal | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            reporting_rates_sql(
                "(SELECT * FROM unnest(%(currencies)s::varchar[], %(days)s::date[]) "
                "AS u(currency, day))"
            ),
            {"currencies": [c for c, _ in keys], "days": [d for _, d in keys],
             **reporting_rate_params()},
        )  # fmt: skip
        return {(currency, day): rate for currency, day, rate in cursor.fetchall()}


@override_settings(FRAUDCASE_REPORTING_CURRENCY="EUR")
def test_the_sql_rate_is_the_rate_books_for_every_currency_and_day():
    for currency, quote, rate, valid_from in RATES:
        ExchangeRate.objects.create(
            currency=currency, quote_currency=quote, rate=Decimal(rate), valid_from=valid_from
        )
    keys = [(currency, day) for currency in CURRENCIES for day in DAYS]
    book = RateBook.load(CURRENCIES, "EUR")

    found = sql_rates(keys)

    assert len(found) == len(keys)
    for key in keys:
        expected, got = book.rate(*key), found[key]
        if expected is None:
            assert got is None, key
        else:  # SQL divides to 20 places, Decimal to 28 significant digits
            assert got is not None and abs(got - expected) < Decimal("1e-15"), (key, got, expected)
    # Spot checks, so the comparison cannot pass on two equal mistakes.
    assert found[("EUR", date(2025, 12, 31))] == 1
    assert found[("KRW", date(2026, 10, 31))] == Decimal("0.00069")
    assert found[("KRW", date(2026, 11, 1))] == Decimal("0.00070")
    assert found[("KRW", date(2025, 12, 31))] is None  # before the first rate
    assert abs(found[("CHF", date(2026, 6, 1))] - 1 / Decimal("0.95")) < Decimal("1e-15")
    assert found[("CHF", date(2026, 5, 1))] is None
    assert found[("JPY", date(2026, 4, 15))] == Decimal("0.0065") * Decimal("0.92")  # via USD
    assert found[("JPY", date(2026, 5, 1))] == Decimal("0.0100") * Decimal("0.60")  # AUD first
    assert found[("JPY", date(2026, 1, 1))] is None
    assert found[("SEK", date(2026, 11, 1))] is None
    assert found[("NOK", date(2026, 11, 1))] is None
