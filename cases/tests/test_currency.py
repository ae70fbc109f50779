"""Amounts in a reporting currency: rates with dates, conversion, priority, sorting, filters."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string

from cases.api.serializers import CaseSerializer
from cases.currency.rates import RateBook
from cases.currency.services import exchange_rates_load, exchange_rates_parse
from cases.errors import ActionNotPermitted, InvalidInput
from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import AuditAction, AuditEvent, Case, ExchangeRate, Transaction
from cases.queue.selectors import QueueFilters, case_queue
from cases.tests.workflow_fixtures import make_user
from cases.workflow.services import queue_save
from conftest import contract_row, put_file

pytestmark = pytest.mark.django_db

RATES = """currency,quote_currency,rate,valid_from
KRW,EUR,0.00069,2026-01-01
KRW,EUR,0.00070,2026-11-01
USD,EUR,0.92,2026-01-01
JPY,USD,0.0065,2026-01-01
"""


def load(text: str = RATES, actor=None):
    from cases.audit.trail import system_actor

    return exchange_rates_load(
        actor=actor or system_actor(), rows=exchange_rates_parse(text), source="rates.csv"
    )


def ingest(s3, bucket, key, rows) -> None:
    put_file(s3, bucket, key, encode_rows(rows, "jsonl"))
    for run_id in ingest_services.inbox_scan(bucket=bucket):
        run = ingest_services.ingest_run_execute(run_id=run_id)
        assert run.status == "succeeded", run.error


def test_a_rates_file_with_mistakes_is_refused_whole_with_every_line_named():
    text = "currency,quote_currency,rate,valid_from\nKRW,EUR,-1,2026-01-01\nKR,EUR,0.1,2026-13-01\n"

    with pytest.raises(InvalidInput) as refused:
        exchange_rates_parse(text)

    message = str(refused.value)
    assert "line 2: rate '-1' is not a positive number" in message
    assert "line 3: currency 'KR' is not an ISO 4217 code" in message
    assert "valid_from '2026-13-01' is not a date" in message
    with pytest.raises(InvalidInput, match="header must name exactly"):
        exchange_rates_parse("currency,rate\nKRW,1\n")


def test_conversion_takes_the_newest_rate_on_or_before_the_day_direct_inverse_or_through_a_third():
    load()
    book = RateBook.load({"KRW", "USD", "JPY", "GBP"})

    assert book.convert(Decimal("1000000"), "KRW", date(2026, 10, 31)) == Decimal("690.00")
    assert book.convert(Decimal("1000000"), "KRW", date(2026, 11, 1)) == Decimal("700.00")
    assert book.convert(Decimal("100"), "EUR", date(2020, 1, 1)) == Decimal("100.00")
    # JPY is quoted in USD only: 0.0065 USD per yen, 0.92 EUR per dollar.
    assert book.convert(Decimal("100000"), "JPY", date(2026, 5, 1)) == Decimal("598.00")
    # Before the first KRW rate, and a currency nobody quoted: no guess.
    assert book.convert(Decimal("1000"), "KRW", date(2025, 12, 31)) is None
    assert book.convert(Decimal("1000"), "GBP", date(2026, 5, 1)) is None


def test_ingest_converts_and_a_won_case_no_longer_outranks_a_euro_one(s3, bucket):
    load()
    won = contract_row(1, account_id="acc_krw", currency="KRW", amount=Decimal("50000000.00"))
    euro = contract_row(2, account_id="acc_eur", currency="EUR", amount=Decimal("5000.00"))
    for row in (won, euro):
        row.update(similarity_score=0.8, outcome="investigate")

    ingest(s3, bucket, "flagged/a.jsonl", [won, euro])

    krw_case, eur_case = (
        Case.objects.get(account_id="acc_krw"),
        Case.objects.get(account_id="acc_eur"),
    )
    assert (krw_case.currency, krw_case.amount_at_risk) == ("KRW", Decimal("50000000.00"))
    assert krw_case.amount_reporting == Decimal("35000.00")  # the November rate
    assert not krw_case.rate_missing
    assert Transaction.objects.get(account_id="acc_krw").amount_reporting == Decimal("35000.00")
    assert eur_case.amount_reporting == Decimal("5000.00")
    # 35,000 EUR against 5,000 EUR: the won case ranks higher for its real size, not 50 million.
    assert krw_case.priority > eur_case.priority
    small_won = contract_row(3, account_id="acc_krw2", currency="KRW", amount=Decimal("1000000.00"))
    small_won.update(similarity_score=0.8, outcome="investigate")
    ingest(s3, bucket, "flagged/b.jsonl", [small_won])
    assert Case.objects.get(account_id="acc_krw2").priority < eur_case.priority  # 700 EUR


def test_a_missing_rate_is_flagged_not_guessed_and_the_load_converts_it_later(s3, bucket):
    lead = make_user("lea", "lead")
    row = contract_row(1, account_id="acc_gbp", currency="GBP", amount=Decimal("1000.00"))
    ingest(s3, bucket, "flagged/a.jsonl", [row])
    case = Case.objects.get(account_id="acc_gbp")
    assert (case.rate_missing, case.amount_reporting) == (True, Decimal("0"))
    assert CaseSerializer(case).data["amount_reporting"] is None
    assert "no rate" in render_to_string("cases/_case_amount.html", {"case": case})
    assert "no EUR rate" in render_to_string(
        "cases/_transaction_amount.html", {"tx": case.transactions.get()}
    )
    big = queue_save(actor=lead, name="Big money", min_amount=Decimal("1000"), routing_order=1)
    queue_save(actor=lead, name="General", is_default=True)
    case.refresh_from_db()
    assert case.queue.name == "General"

    loaded = load("currency,quote_currency,rate,valid_from\nGBP,EUR,1.17,2026-01-01\n", actor=lead)

    case.refresh_from_db()
    assert (case.rate_missing, case.amount_reporting) == (False, Decimal("1170.00"))
    assert case.queue == big  # routing reads the converted amount
    assert (loaded.created, loaded.transactions_converted, loaded.transactions_without_rate) == (
        1,
        1,
        0,
    )
    assert loaded.cases_rerouted == 1
    event = AuditEvent.objects.get(action=AuditAction.EXCHANGE_RATES_LOADED)
    assert event.actor_id == lead.pk
    assert event.after["transactions_converted"] == 1 and event.after["created"] == 1
    data = CaseSerializer(case).data
    assert (data["currency"], data["amount_reporting"], data["reporting_currency"]) == (
        "GBP", "1170.00", "EUR",
    )  # fmt: skip
    assert render_to_string("cases/_case_amount.html", {"case": case}).strip() == (
        '<span class="amount-reporting">1,170.00 EUR</span> '
        '<span class="amount-original">(1,000.00 GBP)</span>'
    )


def test_loading_the_same_rates_again_changes_nothing():
    load()
    again = load()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert ExchangeRate.objects.count() == 4


def test_an_analyst_may_not_load_rates_and_nothing_changes():
    analyst = make_user("ana", "analyst")
    with pytest.raises(ActionNotPermitted):
        load(actor=analyst)
    assert ExchangeRate.objects.count() == 0
    assert not AuditEvent.objects.filter(action=AuditAction.EXCHANGE_RATES_LOADED).exists()


def test_the_queue_sorts_and_filters_by_the_converted_amount(s3, bucket):
    load()
    lead = make_user("lea", "lead")
    queue_save(actor=lead, name="General", is_default=True)
    rows = [
        contract_row(
            1, account_id="acc_krw", currency="KRW", amount=Decimal("2000000.00")
        ),  # 1,400
        contract_row(2, account_id="acc_eur", currency="EUR", amount=Decimal("3000.00")),
        contract_row(3, account_id="acc_usd", currency="USD", amount=Decimal("1000.00")),  # 920
    ]
    ingest(s3, bucket, "flagged/a.jsonl", rows)

    by_amount = case_queue(user=lead, tab="all", filters=QueueFilters(), sort="-amount", page=1)
    over_1000 = case_queue(
        user=lead,
        tab="all",
        filters=QueueFilters(amount_min=Decimal("1000")),
        sort="amount",
        page=1,
    )

    assert [c.account_id for c in by_amount.page] == ["acc_eur", "acc_krw", "acc_usd"]
    assert [c.account_id for c in over_1000.page] == ["acc_krw", "acc_eur"]


def test_the_command_loads_a_file_and_the_demo_ships_a_rate_for_every_demo_currency(tmp_path):
    from cases.demo.world import EUR_RATES
    from cases.management.commands.demo import DEMO_EXCHANGE_RATES

    call_command("load_exchange_rates", str(DEMO_EXCHANGE_RATES))
    book = RateBook.load(EUR_RATES)
    for currency, per_euro in EUR_RATES.items():
        converted = book.convert(Decimal(per_euro) * 100, currency, date(2026, 1, 1))
        assert abs(converted - Decimal(100)) <= Decimal("0.05"), currency
    path = tmp_path / "rates.csv"
    path.write_text(RATES)
    call_command("load_exchange_rates", str(path))
    assert ExchangeRate.objects.count() == 28 + 4
    with pytest.raises(CommandError, match="no file"):
        call_command("load_exchange_rates", str(tmp_path / "missing.csv"))
    assert (
        Path(DEMO_EXCHANGE_RATES).read_text().startswith("currency,quote_currency,rate,valid_from")
    )
