"""The money dashboard in the reporting currency: each day's sums per currency converted at
that day's rate in SQL, amounts without a rate counted and listed in their own currency (never
guessed), a rate loaded later applying at once; the rollup kept per currency by ingest."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.core.cache import cache
from django.test import override_settings

from analytics.common.ranges import DayRange
from analytics.money.selectors import MoneyReport, money_per_day
from analytics.rollups import rollups_rebuild
from analytics.tests.builders import labelled_transaction
from cases.currency.rates import RateBook
from cases.models import ExchangeRate, Transaction
from cases.tests.workflow_fixtures import make_user
from conftest import client_for

pytestmark = pytest.mark.django_db

NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30))
CENT = Decimal("0.01")


def expected_money(day_range: DayRange, *, flagged_ids=None) -> MoneyReport:
    """The figures from the transactions in Python with RateBook (an independent reckoning):
    per (day, currency) raw sums, converted at the day's rate, rounded to the cent."""
    start, end = day_range.moments()
    transactions = list(Transaction.objects.filter(occurred_at__gte=start, occurred_at__lt=end))
    book = RateBook.load({tx.currency for tx in transactions}, "EUR")
    sums: dict = defaultdict(lambda: [0, Decimal(0), 0, Decimal(0), Decimal(0)])
    for tx in transactions:
        group = sums[(tx.occurred_at.astimezone(UTC).date(), tx.currency)]
        if flagged_ids is None or tx.pk in flagged_ids:
            group[0] += 1
            group[1] += tx.amount
        if tx.label == "fraud":
            group[2] += 1
            group[3] += tx.amount
            if (tx.decision or tx.outcome) == "block":
                group[4] += tx.amount
    report = MoneyReport(reporting_currency="EUR")
    days, unconverted = {}, {}
    for (day, currency), (flagged, at_risk, fraud, confirmed, saved) in sorted(sums.items()):
        figures = days.setdefault(day, [day, Decimal(0), Decimal(0), Decimal(0), 0])
        rate = book.rate(currency, day)
        if rate is None:
            figures[4] += flagged
            row = unconverted.setdefault(
                currency, [currency, 0, Decimal(0), 0, Decimal(0), Decimal(0), day, day]
            )
            for index, value in enumerate((flagged, at_risk, fraud, confirmed, saved), start=1):
                row[index] += value
            row[7] = day
        else:
            for index, value in enumerate((at_risk, confirmed, saved), start=1):
                figures[index] += (value * rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
    report.daily = [days[day] for day in sorted(days)]
    report.unconverted = [unconverted[c] for c in sorted(unconverted)]
    return report


def two_currencies_dataset() -> None:
    """EUR and USD with a USD rate from 2026-11-03 (none before), and KRW with no rate at all."""
    ExchangeRate.objects.create(
        currency="USD", quote_currency="EUR", rate=Decimal("0.9"), valid_from=date(2026, 11, 3)
    )
    ExchangeRate.objects.create(
        currency="USD", quote_currency="EUR", rate=Decimal("0.8"), valid_from=date(2026, 11, 5)
    )
    for day, currency, amount, label, outcome, decision in [
        (2, "EUR", "100.00", "fraud", "block", ""),
        (2, "USD", "50.00", "fraud", "block", ""),  # no USD rate on the 2nd
        (3, "USD", "10.01", "fraud", "investigate", "block"),
        (3, "USD", "20.00", "legitimate", "block", ""),
        (3, "EUR", "5.00", "", "approve", ""),
        (4, "KRW", "10000.00", "fraud", "approve", ""),
        (5, "USD", "100.00", "fraud", "approve", ""),
        (5, "EUR", "1.50", "fraud", "block", ""),
    ]:  # fmt: skip
        labelled_transaction(
            score=0.5, label=label, outcome=outcome, decision=decision, amount=amount,
            currency=currency, occurred_at=datetime(2026, 11, day, 12, tzinfo=UTC),
        )  # fmt: skip
    rollups_rebuild()


@override_settings(FRAUDCASE_REPORTING_CURRENCY="EUR")
def test_money_is_converted_per_day_and_amounts_without_a_rate_are_shown_apart():
    two_currencies_dataset()

    report = money_per_day(NOVEMBER)

    assert report.reporting_currency == "EUR"
    assert report.daily == [
        # The 2nd: 100 EUR; 50 USD have no rate that day.
        [date(2026, 11, 2), Decimal("100.00"), Decimal("100.00"), Decimal("100.00"), 1],
        # The 3rd at 0.9: at risk 30.01 USD -> 27.01 (27.009), + 5 EUR; confirmed 10.01 USD
        # -> 9.01 (9.009), saved by the analyst's block 9.01.
        [date(2026, 11, 3), Decimal("32.01"), Decimal("9.01"), Decimal("9.01"), 0],
        [date(2026, 11, 4), Decimal("0"), Decimal("0"), Decimal("0"), 1],  # KRW: no rate
        # The 5th at 0.8 (the newer rate): 100 USD -> 80, + 1.50 EUR blocked.
        [date(2026, 11, 5), Decimal("81.50"), Decimal("81.50"), Decimal("1.50"), 0],
    ]
    assert report.unconverted == [
        ["KRW", 1, Decimal("10000.00"), 1, Decimal("10000.00"), Decimal("0"),
         date(2026, 11, 4), date(2026, 11, 4)],
        ["USD", 1, Decimal("50.00"), 1, Decimal("50.00"), Decimal("50.00"),
         date(2026, 11, 2), date(2026, 11, 2)],
    ]  # fmt: skip
    assert report.unconverted_transactions == 4
    assert report == expected_money(NOVEMBER)
    assert report.running_totals() == [
        [date(2026, 11, 2), Decimal("100.00"), Decimal("100.00"), Decimal("100.00")],
        [date(2026, 11, 3), Decimal("132.01"), Decimal("109.01"), Decimal("109.01")],
        [date(2026, 11, 4), Decimal("132.01"), Decimal("109.01"), Decimal("109.01")],
        [date(2026, 11, 5), Decimal("213.51"), Decimal("190.51"), Decimal("110.51")],
    ]


@override_settings(FRAUDCASE_REPORTING_CURRENCY="EUR")
def test_a_rate_loaded_later_converts_what_had_none_at_once():
    two_currencies_dataset()
    money_per_day(NOVEMBER)  # the label facts' part now cached

    ExchangeRate.objects.create(
        currency="EUR", quote_currency="KRW", rate=Decimal("1500"), valid_from=date(2026, 1, 1)
    )
    report = money_per_day(NOVEMBER)

    assert report.daily[2] == [  # 10,000 KRW at 1 / 1500 (the inverse of EUR -> KRW)
        date(2026, 11, 4), Decimal("6.67"), Decimal("6.67"), Decimal("0"), 0,
    ]  # fmt: skip
    assert [row[0] for row in report.unconverted] == ["USD"]
    assert report == expected_money(NOVEMBER)


@override_settings(FRAUDCASE_REPORTING_CURRENCY="USD")
def test_another_reporting_currency_converts_the_other_way():
    two_currencies_dataset()

    report = money_per_day(NOVEMBER)

    # 100 EUR on the 2nd: no EUR -> USD rate before the 3rd (the inverse of USD -> EUR starts
    # then), so EUR is the currency without a rate that day and USD counts as it is.
    assert report.daily[0] == [date(2026, 11, 2), Decimal("50.00"), Decimal("50.00"),
                               Decimal("50.00"), 1]  # fmt: skip
    assert report.daily[1][1] == Decimal("30.01") + Decimal("5.56")  # 5 EUR / 0.9
    assert [row[0] for row in report.unconverted] == ["EUR", "KRW"]


def test_the_page_shows_the_reporting_currency_and_flags_amounts_without_a_rate():
    cache.clear()
    two_currencies_dataset()
    client = client_for(make_user("lea", "lead"))

    page = client.get("/analytics/money/?since=2026-11-01&until=2026-11-30")
    csv_text = client.get("/analytics/money/?since=2026-11-01&until=2026-11-30&csv=money-no-rate")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="money-no-rate"' in html
    assert "4 transactions in 2 currencies (KRW, USD) had no exchange rate" in html
    assert "213.51 EUR" in html  # at risk: 100 + 32.01 + 0 + 81.50
    assert csv_text.content.decode().splitlines() == [
        "currency,flagged transactions,at risk,fraud-labelled transactions,confirmed fraud,"
        "saved by blocks,first day,last day",
        "KRW,1,10000.00,1,10000.00,0.00,2026-11-04,2026-11-04",
        "USD,1,50.00,1,50.00,50.00,2026-11-02,2026-11-02",
    ]
