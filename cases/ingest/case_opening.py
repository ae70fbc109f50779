"""Writes for the investigation domain. Each function is one use case, run in a transaction."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db import OperationalError, connection, transaction
from django.db.models import Case as SqlCase
from django.db.models import Count, IntegerField, Max, Min, Q, Sum, Value, When
from django.utils import timezone

from cases.clock import database_now
from cases.currency.rates import RateBook
from cases.models import FINISHED_CASE_STATUSES, Case, Outcome, Transaction
from cases.sqlarrays import number_array, text_array

# How much each part weighs in a case's priority (they add up to 100).
SCORE_WEIGHT = 60
OUTCOME_POINTS = {Outcome.BLOCK: 25, Outcome.INVESTIGATE: 15, "": 8, Outcome.APPROVE: 0}
AMOUNT_WEIGHT = 15
# An amount at risk of this size or more earns the whole amount weight.
AMOUNT_FOR_FULL_WEIGHT = 100_000
# On top: what the nearest labelled transactions say (Case.neighbour_fraud_score, 0-1). The
# sum is capped at 100; a case without labelled neighbours keeps the three parts alone.
NEIGHBOUR_WEIGHT = 15
PRIORITY_MAX = 100
OUTCOME_RANK = {Outcome.APPROVE: 1, Outcome.INVESTIGATE: 2, Outcome.BLOCK: 3}
# Look-ups for an account's live case within one chunk: each one after the first follows a
# case closed or merged while the previous one waited for its lock.
LIVE_CASE_LOOKUPS = 5


def case_priority(
    *,
    max_similarity_score: float,
    worst_outcome: str,
    amount_at_risk: Decimal,
    neighbour_fraud_score: float | None = None,
) -> int:
    """Priority 0-100: the detector's highest score, its sternest outcome, and the money at stake.

    amount_at_risk is in the reporting currency (Case.amount_reporting, cases.currency). Amounts
    enter on a log scale, so a 50 000 case outranks a 50 one but does not drown a near-certain
    detector match. A
    neighbour fraud score adds up to NEIGHBOUR_WEIGHT points (None adds nothing).
    """
    score_part = SCORE_WEIGHT * min(max(max_similarity_score, 0.0), 1.0)
    amount = float(max(amount_at_risk, Decimal(0)))
    amount_part = AMOUNT_WEIGHT * min(
        1.0, math.log10(1 + amount) / math.log10(1 + AMOUNT_FOR_FULL_WEIGHT)
    )
    neighbour_part = NEIGHBOUR_WEIGHT * min(max(neighbour_fraud_score or 0.0, 0.0), 1.0)
    return min(
        PRIORITY_MAX,
        round(score_part + OUTCOME_POINTS.get(worst_outcome, 0) + amount_part + neighbour_part),
    )


def cases_open_for_accounts(*, account_ids: Iterable[str]) -> tuple[dict[str, int], list[int]]:
    """Map each account to its one live case, opening a case where none is live, and lock
    those cases until the caller's transaction ends (so call it inside the transaction that
    attaches the rows).

    Returns (case id by account, ids of the cases opened). Outside a transaction the locks
    end with this call (a benchmark's setup). Held from the lookup to the commit,
    the lock keeps an analyst from closing or merging a case while rows join it: the close
    waits for this commit, or, when it committed first, the lock sees the case finished and
    the account gets a new case (looked up again: the rows never land in a finished case).
    Two workers racing to open a case for one account meet the partial unique index: exactly
    one insert wins and the other locks the winner's case.
    """
    pending = sorted(set(account_ids))
    case_ids: dict[str, int] = {}
    opened: list[int] = []
    # No savepoint inside the caller's transaction: any error here fails the whole chunk.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for _ in range(LIVE_CASE_LOOKUPS):
            if not pending:
                break
            opened += _open_missing_cases(cursor, pending)
            # In id order, as every writer of several cases locks them. Under READ COMMITTED a
            # case closed or merged while this waited for its lock is re-read and left out.
            cursor.execute(
                "SELECT account_id, id FROM cases_case "
                "WHERE account_id = ANY(%s::text[]) AND status <> ALL(%s) "
                "ORDER BY id FOR NO KEY UPDATE",
                [text_array(pending), list(FINISHED_CASE_STATUSES)],
            )
            case_ids.update(cursor.fetchall())
            pending = [account for account in pending if account not in case_ids]
        if pending:
            raise OperationalError(
                f"no live case could be held for {len(pending)} account(s): their cases kept "
                "being closed or merged meanwhile; the chunk is retried"
            )
    return case_ids, opened


def _open_missing_cases(cursor, accounts: list[str]) -> list[int]:
    """Open a case for each account without a live one; the ids of those opened."""
    now = database_now()
    cursor.execute(
        """
        INSERT INTO cases_case (account_id, status, priority, max_similarity_score,
                                worst_outcome, amount_at_risk, transaction_count,
                                opened_at, updated_at, version, resolution, closing_comment)
        SELECT candidate.account_id, %s, 0, 0, '', 0, 0, %s, %s, 1, '', ''
        FROM unnest(%s::text[]) AS candidate(account_id)
        WHERE NOT EXISTS (
            SELECT 1 FROM cases_case open_case
            WHERE open_case.account_id = candidate.account_id
              AND open_case.status <> ALL(%s)
        )
        ON CONFLICT DO NOTHING
        RETURNING id
        """,
        ["open", now, now, text_array(accounts), list(FINISHED_CASE_STATUSES)],
    )
    return [row[0] for row in cursor.fetchall()]


def cases_fold_in_transactions(
    *,
    case_ids: Sequence[int],
    scores: Sequence[float],
    outcomes: Sequence[str],
    amounts: Sequence[Decimal],
    amounts_reporting: Sequence[Decimal | None] | None = None,
    currencies: Sequence[str] | None = None,
) -> int:
    """Fold new transactions (one entry each) into their cases' aggregates and priority.

    amounts_reporting: each amount in the reporting currency, None where no rate converts it
    (the case is then flagged rate_missing); currencies: each one's currency. Left out (a
    benchmark's or test's shortcut): amounts count as converted one to one, currency unknown.

    What cases_refresh_priority computes for these cases when the transactions are new to
    them (a maximum, a sum, a count and the sternest outcome only grow), without reading the
    cases' older transactions: ingest's path. The cases are locked and read first, so two
    workers adding to one case at once both count, and each case row is written once (a
    second write per case, for the priority, was a third of a chunk's database time).
    Returns how many cases were updated.
    """
    if amounts_reporting is None:
        amounts_reporting = amounts
    if currencies is None:
        currencies = [None] * len(case_ids)
    added: dict[int, list] = {}
    for case_id, score, outcome, amount, reporting, currency in zip(
        case_ids, scores, outcomes, amounts, amounts_reporting, currencies, strict=True
    ):
        rank = OUTCOME_RANK.get(outcome, 0)
        entry = added.get(case_id)
        if entry is None:
            added[case_id] = [
                score,
                rank,
                amount,
                1,
                reporting or Decimal(0),
                reporting is None,
                {currency},
            ]
            continue
        entry[0] = max(entry[0], score)
        entry[1] = max(entry[1], rank)
        entry[2] += amount
        entry[3] += 1
        entry[4] += reporting or Decimal(0)
        entry[5] = entry[5] or reporting is None
        entry[6].add(currency)
    if not added:
        return 0
    outcome_by_rank = {rank: outcome for outcome, rank in OUTCOME_RANK.items()}
    columns: dict[str, list] = {name: [] for name in AGGREGATE_COLUMNS}
    with connection.cursor() as cursor:
        # In id order, as every writer of several cases locks them: no deadlock between workers.
        cursor.execute(
            """
            SELECT id, max_similarity_score, worst_outcome, amount_at_risk, transaction_count,
                   neighbour_fraud_score, amount_reporting, rate_missing, currency
            FROM cases_case WHERE id = ANY(%s::bigint[]) ORDER BY id FOR NO KEY UPDATE
            """,
            [number_array(added)],
        )
        for (
            case_id, old_score, old_outcome, old_amount, old_count, neighbour, old_reporting,
            old_missing, old_currency,
        ) in cursor.fetchall():  # fmt: skip
            score, rank, amount, count, reporting, missing, currencies = added[case_id]
            reporting += old_reporting
            missing = missing or old_missing
            if old_count:
                currencies.add(old_currency or None)  # "" with transactions: several already
            columns["reporting"].append(reporting)
            columns["missing"].append(missing)
            columns["currency"].append(_one_currency(currencies))
            score = max(old_score, score)
            outcome = (
                outcome_by_rank[rank] if rank > OUTCOME_RANK.get(old_outcome, 0) else old_outcome
            )
            amount += old_amount
            columns["id"].append(case_id)
            columns["score"].append(score)
            columns["outcome"].append(outcome)
            columns["amount"].append(amount)
            columns["count"].append(old_count + count)
            columns["priority"].append(
                case_priority(
                    max_similarity_score=score, worst_outcome=outcome, amount_at_risk=reporting,
                    neighbour_fraud_score=neighbour,
                )
            )  # fmt: skip
        _write_case_aggregates(cursor, columns)
    return len(columns["id"])


AGGREGATE_COLUMNS = (
    "id", "score", "outcome", "amount", "count", "priority", "reporting", "missing", "currency",
)  # fmt: skip


def _one_currency(currencies: set[str | None]) -> str:
    """The one currency of a case's transactions; "" for several (or unknown)."""
    return next(iter(currencies)) or "" if len(currencies) == 1 else ""


def _write_case_aggregates(cursor, columns: dict[str, list]) -> int:
    """One UPDATE from arrays (bulk_update's CASE expressions cost seconds per thousand cases)."""
    cursor.execute(
        """
        UPDATE cases_case SET max_similarity_score = fresh.score, worst_outcome = fresh.outcome,
               amount_at_risk = fresh.amount, transaction_count = fresh.count,
               priority = fresh.priority, amount_reporting = fresh.reporting,
               rate_missing = fresh.missing, currency = fresh.currency, updated_at = %s
        FROM unnest(%s::bigint[], %s::float8[], %s::text[], %s::numeric[], %s::int[], %s::int[],
                    %s::numeric[], %s::boolean[], %s::text[])
             AS fresh(id, score, outcome, amount, count, priority, reporting, missing, currency)
        WHERE cases_case.id = fresh.id
        """,
        [
            # updated_at as every other case write stamps it (auto_now): what the API's
            # updated_since compares a client's mark with.
            timezone.now(), number_array(columns["id"]), number_array(columns["score"]),
            text_array(columns["outcome"]), number_array(columns["amount"]),
            number_array(columns["count"]), number_array(columns["priority"]),
            number_array(columns["reporting"]),
            "{" + ",".join("t" if missing else "f" for missing in columns["missing"]) + "}",
            text_array(columns["currency"]),
        ],
    )  # fmt: skip
    return cursor.rowcount


def cases_refresh_priority(*, case_ids: Iterable[int]) -> int:
    """Recompute the aggregates and priority of these cases from their transactions.

    Idempotent: the result depends only on the transactions. Returns how many cases changed.
    """
    ids = sorted(set(case_ids))
    if not ids:
        return 0
    _convert_unconverted(ids)
    outcome_rank = SqlCase(
        *[When(outcome=outcome, then=Value(rank)) for outcome, rank in OUTCOME_RANK.items()],
        default=Value(0),
        output_field=IntegerField(),
    )
    aggregates = (
        Transaction.objects.filter(case_id__in=ids)
        .values("case_id")
        .annotate(
            max_score=Max("similarity_score"),
            amount=Sum("amount"),
            count=Count("id"),
            worst_rank=Max(outcome_rank),
            reporting=Sum("amount_reporting"),
            unconverted=Count("id", filter=Q(amount_reporting__isnull=True)),
            currencies=Count("currency", distinct=True),
            currency=Min("currency"),
        )
    )
    outcome_by_rank = {rank: outcome for outcome, rank in OUTCOME_RANK.items()}
    # Kept by cases_refresh_neighbour_verdict (cases/services/similarity.py).
    neighbour_scores = dict(
        Case.objects.filter(id__in=ids).values_list("id", "neighbour_fraud_score")
    )
    columns: dict[str, list] = {name: [] for name in AGGREGATE_COLUMNS}
    for row in aggregates:
        reporting = row["reporting"] or Decimal(0)
        columns["reporting"].append(reporting)
        columns["missing"].append(row["unconverted"] > 0)
        columns["currency"].append(row["currency"] if row["currencies"] == 1 else "")
        worst_outcome = outcome_by_rank.get(row["worst_rank"], "")
        amount = row["amount"] or Decimal(0)
        max_score = row["max_score"] or 0.0
        columns["id"].append(row["case_id"])
        columns["score"].append(max_score)
        columns["outcome"].append(worst_outcome)
        columns["amount"].append(amount)
        columns["count"].append(row["count"])
        columns["priority"].append(
            case_priority(
                max_similarity_score=max_score,
                worst_outcome=worst_outcome,
                amount_at_risk=reporting,
                neighbour_fraud_score=neighbour_scores.get(row["case_id"]),
            )
        )
    # A case left without transactions (merged away) drops to zero.
    for case_id in sorted(set(ids) - set(columns["id"])):
        empty = (case_id, 0.0, "", Decimal(0), 0, 0, Decimal(0), False, "")
        for name, value in zip(columns, empty, strict=True):
            columns[name].append(value)
    with connection.cursor() as cursor:
        return _write_case_aggregates(cursor, columns)


def _convert_unconverted(case_ids: list[int]) -> None:
    """Convert the amounts of these cases' transactions that have none yet, where a rate now
    covers them (rows written outside ingest, or before their rate was loaded)."""
    pending = list(
        Transaction.objects.filter(case_id__in=case_ids, amount_reporting__isnull=True)
        .order_by("pk")
        .values_list("pk", "amount", "currency", "occurred_at")
    )
    if not pending:
        return
    book = RateBook.load({currency for _, _, currency, _ in pending})
    converted = [
        (pk, value)
        for pk, amount, currency, occurred_at in pending
        if (value := book.convert(amount, currency, occurred_at)) is not None
    ]
    if converted:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE cases_transaction SET amount_reporting = fresh.amount "
                "FROM unnest(%s::bigint[], %s::numeric[]) AS fresh(id, amount) "
                "WHERE cases_transaction.id = fresh.id",
                [number_array(pk for pk, _ in converted), number_array(v for _, v in converted)],
            )
