"""Loading exchange rates, and converting stored amounts again when the rates change."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.db.models import Q

from cases.audit.trail import (
    SYSTEM_USERNAME,
    audit_record,
    model_changes_recorded_by_service,
    refusals_audited,
)
from cases.currency.models import ExchangeRate
from cases.currency.rates import RateBook, reporting_currency
from cases.errors import InvalidInput
from cases.ingest.case_opening import cases_refresh_priority
from cases.locking import lock_cases
from cases.models import FINISHED_CASE_STATUSES, AuditAction, Transaction
from cases.policies import require_permission
from cases.sqlarrays import number_array
from cases.workflow.services.routing import TRIGGER_AMOUNT, cases_reroute

# The file's columns (docs/exchange-rates.md); extra columns are refused, so a typo shows.
RATE_COLUMNS = ("currency", "quote_currency", "rate", "valid_from")
# Transactions converted per statement when rates change.
RECONVERT_BATCH = 5000


@dataclass(frozen=True)
class RateRow:
    currency: str
    quote_currency: str
    rate: Decimal
    valid_from: date


@dataclass(frozen=True)
class RatesLoaded:
    created: int
    updated: int
    unchanged: int
    transactions_converted: int
    transactions_without_rate: int
    cases_rerouted: int


def exchange_rates_parse(text: str) -> list[RateRow]:
    """Rows of a rates file (CSV with a header: currency,quote_currency,rate,valid_from).

    Pure. Every problem of every line is refused at once (InvalidInput), nothing half-loaded.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    if sorted(header) != sorted(RATE_COLUMNS):
        raise InvalidInput(
            f"the header must name exactly {', '.join(RATE_COLUMNS)} (it has {', '.join(header) or 'nothing'})"
        )
    rows, problems, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        values = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        currency, quote = values["currency"].upper(), values["quote_currency"].upper()
        errors = []
        for name, code in (("currency", currency), ("quote_currency", quote)):
            if len(code) != 3 or not code.isascii() or not code.isalpha():
                errors.append(f"{name} {code!r} is not an ISO 4217 code")
        if currency == quote:
            errors.append("currency and quote_currency are the same")
        try:
            rate = Decimal(values["rate"])
            if not rate.is_finite() or rate <= 0:
                raise InvalidOperation
        except InvalidOperation:
            errors.append(f"rate {values['rate']!r} is not a positive number")
            rate = None
        try:
            valid_from = date.fromisoformat(values["valid_from"])
        except ValueError:
            errors.append(f"valid_from {values['valid_from']!r} is not a date (YYYY-MM-DD)")
            valid_from = None
        key = (currency, quote, valid_from)
        if not errors and key in seen:
            errors.append(f"{currency}/{quote} on {valid_from} appears twice")
        seen.add(key)
        if errors:
            problems.append(f"line {line}: {'; '.join(errors)}")
        else:
            rows.append(RateRow(currency, quote, rate, valid_from))
    if problems:
        raise InvalidInput("the rates file was not loaded: " + " | ".join(problems[:20]))
    if not rows:
        raise InvalidInput("the rates file has no rows")
    return rows


def _require_rate_manager(actor) -> None:
    # The system user stands for an operator's shell (manage.py) and the demo.
    if actor is not None and actor.get_username() == SYSTEM_USERNAME:
        return
    require_permission(actor, "manage_queues", attempted="load exchange rates")


def exchange_rates_load(*, actor, rows: list[RateRow], source: str) -> RatesLoaded:
    """Add or replace rates (one per pair and day), then convert again the amounts they cover.

    Idempotent: loading the same rows again changes nothing. Transactions of unfinished cases
    (and any transaction still without a rate) from the earliest day loaded on are converted
    again; their cases' priority follows and unassigned ones are routed again. One
    EXCHANGE_RATES_LOADED event with the counts.
    """
    with refusals_audited(actor=actor, attempted="exchange_rates_load", object_repr=source[:255]):
        _require_rate_manager(actor)
        if not rows:
            raise InvalidInput("no exchange rates to load")
        with transaction.atomic(), model_changes_recorded_by_service():
            created = updated = unchanged = 0
            for row in rows:
                existing = ExchangeRate.objects.filter(
                    currency=row.currency,
                    quote_currency=row.quote_currency,
                    valid_from=row.valid_from,
                ).first()
                if existing is None:
                    ExchangeRate.objects.create(
                        currency=row.currency, quote_currency=row.quote_currency,
                        valid_from=row.valid_from, rate=row.rate, source=source[:255],
                    )  # fmt: skip
                    created += 1
                elif existing.rate != row.rate:
                    existing.rate, existing.source = row.rate, source[:255]
                    existing.save(update_fields=["rate", "source"])
                    updated += 1
                else:
                    unchanged += 1
            converted, missing, rerouted = (0, 0, 0)
            if created or updated:
                since = min(row.valid_from for row in rows)
                converted, missing, rerouted = amounts_reconvert(actor=actor, since=since)
            result = RatesLoaded(created, updated, unchanged, converted, missing, rerouted)
            audit_record(
                actor=actor, action=AuditAction.EXCHANGE_RATES_LOADED, object_type="cases.exchangerate",
                object_repr=source[:255],
                after={"source": source, "rows": len(rows), "created": created, "updated": updated,
                       "unchanged": unchanged, "reporting_currency": reporting_currency(),
                       "currencies": sorted({r.currency for r in rows} | {r.quote_currency for r in rows}),
                       "transactions_converted": converted, "transactions_without_rate": missing,
                       "cases_rerouted": rerouted},
            )  # fmt: skip
            return result


def amounts_reconvert(*, actor, since: date | None = None) -> tuple[int, int, int]:
    """Convert again the amounts of unfinished cases' transactions from since on (None: all),
    and of every transaction still without a rate; refresh those cases' aggregates and route
    the unassigned ones again. Returns (transactions converted, left without a rate, cases
    rerouted). A step of exchange_rates_load, in its transaction.
    """
    scope = Q(amount_reporting__isnull=True) | Q(
        case__in=_unfinished_case_ids(), **({"occurred_at__date__gte": since} if since else {})
    )
    transactions = Transaction.objects.filter(scope)
    currencies = set(transactions.values_list("currency", flat=True).distinct())
    book = RateBook.load(currencies)
    missing = 0
    changes: list[tuple[int, Decimal | None]] = []
    case_ids: set[int] = set()
    last_id = 0
    while True:  # read and convert first: the cases are locked before any transaction row
        batch = list(
            transactions.filter(pk__gt=last_id).order_by("pk")
            .values_list("pk", "case_id", "amount", "currency", "occurred_at", "amount_reporting")[:RECONVERT_BATCH]
        )  # fmt: skip
        if not batch:
            break
        last_id = batch[-1][0]
        for pk, case_id, amount, currency, occurred_at, old in batch:
            new = book.convert(amount, currency, occurred_at)
            missing += new is None
            if new != old:
                changes.append((pk, new))
                case_ids.add(case_id)
    lock_cases(case_ids)  # the house order (cases.locking): cases, then their transactions
    for start in range(0, len(changes), RECONVERT_BATCH):
        part = changes[start : start + RECONVERT_BATCH]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE cases_transaction SET amount_reporting = fresh.amount "
                "FROM unnest(%s::bigint[], %s::numeric[]) AS fresh(id, amount) "
                "WHERE cases_transaction.id = fresh.id",
                [number_array(pk for pk, _ in part),
                 "{" + ",".join("NULL" if v is None else str(v) for _, v in part) + "}"],
            )  # fmt: skip
    converted = len(changes)
    cases_refresh_priority(case_ids=case_ids)
    rerouted = cases_reroute(actor=actor, case_ids=case_ids, trigger=TRIGGER_AMOUNT)
    return converted, missing, rerouted


def _unfinished_case_ids():
    from cases.models import Case

    return Case.objects.exclude(status__in=FINISHED_CASE_STATUSES).values("pk")
