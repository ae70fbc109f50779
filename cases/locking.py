"""The one order in which the services lock rows, and retrying what a deadlock still undoes.

Every service that locks rows of more than one case or kind takes them in this order:

  1. cases, by numeric id ascending;
  2. then transactions, by id ascending;
  3. then label versions, by id ascending.

Two services can then never each hold what the other waits for. Of other rows, an
Idempotency-Key's and a label export batch come before all these, a queue after the cases;
and every row lock comes before the audit chain's lock (cases.audit.trail.audit_record takes
it and holds it to the commit, so a row lock taken after it can close a circle with any
writer): lock everything a change needs, then audit. Triggers that fire inside a write lock
no row another case's write needs (the label counters are append-only rows, analytics
migration 0005: a shared per-day row taken after the chain's lock deadlocked, issue 14).
Locks are FOR NO KEY UPDATE: they
serialise changes to the row without holding up inserts of rows that only refer to it (a
transaction's or a centroid's foreign key takes FOR KEY SHARE on its case, which FOR UPDATE
would block, in whatever order the inserting statement met its rows).

What the order cannot cover (a serialization failure, a deadlock with work that is not ours
to order) is retried: retry_on_conflict reruns the whole transaction a few times with
jittered backoff. Each attempt rolls back whole, so the audit trail holds the change once;
when every attempt fails the caller gets Busy (a refusal, 409), never a server error.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import psycopg.errors
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet

from cases.audit.trail import audit_record
from cases.errors import Busy
from cases.models import AuditAction, Case, LabelVersion, Transaction

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
# Attempts in all, and the backoff's base: waits up to 50, 100, 200 ms between them.
CONFLICT_ATTEMPTS = 4
CONFLICT_BACKOFF_SECONDS = 0.05
# How often a transaction may be found moved to another case (a merge) while being locked.
MOVED_ROUNDS = 5
LOCK_CONFLICTS = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


def _require_transaction() -> None:
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError("row locks last only inside a transaction")


def lock_cases(case_ids: Iterable[int]) -> dict[int, Case]:
    """These cases (those that exist), locked in the house order; by id."""
    _require_transaction()
    ids = sorted({int(case_id) for case_id in case_ids})
    if not ids:
        return {}
    rows = Case.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    return {case.pk: case for case in rows}


class _Moved(Exception):
    """A transaction was moved to a case not locked: take the locks again."""


def lock_transactions_with_cases(
    transactions: QuerySet[Transaction],
) -> tuple[dict[int, Case], list[Transaction]]:
    """The cases of these transactions, then the transactions, locked in the house order.

    Returns (cases by id, transactions in id order), each transaction's .case the locked case.
    A transaction moved to another case by a merge between the look-up and the locks is
    caught: that round rolls back to its savepoint, which releases its locks, and is redone.
    """
    _require_transaction()
    for _ in range(MOVED_ROUNDS):
        try:
            with transaction.atomic():
                cases = lock_cases(transactions.values_list("case_id", flat=True))
                locked = list(
                    transactions.select_for_update(no_key=True, of=("self",)).order_by("id")
                )
                if not {tx.case_id for tx in locked} <= cases.keys():
                    raise _Moved
        except _Moved:
            continue
        for tx in locked:
            tx.case = cases[tx.case_id]
        return cases, locked
    raise Busy("the transactions kept moving between cases while being locked; try again")


def lock_label_versions(versions: QuerySet[LabelVersion]) -> list[LabelVersion]:
    """These label versions, their transactions' cases and their transactions locked first
    (the house order), then the versions in id order, each with .transaction the locked one."""
    _require_transaction()
    for _ in range(MOVED_ROUNDS):
        try:
            with transaction.atomic():
                _, transactions = lock_transactions_with_cases(
                    Transaction.objects.filter(pk__in=versions.values("transaction_id"))
                )
                by_id = {tx.pk: tx for tx in transactions}
                locked = list(versions.select_for_update(no_key=True, of=("self",)).order_by("id"))
                if not {version.transaction_id for version in locked} <= by_id.keys():
                    raise _Moved  # a version of another transaction joined meanwhile
        except _Moved:
            continue
        for version in locked:
            version.transaction = by_id[version.transaction_id]
        return locked
    raise Busy("the label versions kept changing while being locked; try again")


def is_lock_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction was undone and may simply rerun."""
    return isinstance(error, LOCK_CONFLICTS) or isinstance(error.__cause__, LOCK_CONFLICTS)


def retry_on_conflict(
    run: Callable[[], Result],
    *,
    what: str,
    on_exhausted: Callable[[Busy], None] | None = None,
) -> Result:
    """run() (one whole transaction), rerun on a deadlock or serialization failure.

    Inside a transaction someone else opened, the conflict has undone theirs: it is passed up
    to them, whose own retry reruns the whole. After CONFLICT_ATTEMPTS, on_exhausted(busy) is
    called (to audit it) and Busy raised.
    """
    if connection.in_atomic_block:
        return run()
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return run()
        except (OperationalError, psycopg.OperationalError) as error:
            if not is_lock_conflict(error):
                raise
            kind = type(error.__cause__ or error).__name__
            if attempt == CONFLICT_ATTEMPTS:
                logger.error("%s: %s on each of %d attempts", what, kind, attempt)
                busy = Busy(
                    "others were changing the same cases at the same moment; nothing was "
                    "changed, try again"
                )
                if on_exhausted is not None:
                    on_exhausted(busy)
                raise busy from error
            # Full jitter: two victims of one deadlock do not collide again in step.
            delay = random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2 ** (attempt - 1))  # noqa: S311
            logger.warning(
                "%s: %s on attempt %d of %d; retrying in %.0f ms",
                what, kind, attempt, CONFLICT_ATTEMPTS, delay * 1000,
            )  # fmt: skip
            time.sleep(delay)
    raise AssertionError("unreachable")


def conflicts_retried(service: Callable[..., Result]) -> Callable[..., Result]:
    """Decorate a service (keyword arguments, its own transaction.atomic) to be rerun on a
    deadlock or serialization failure; Busy when it keeps failing, audited once as a refusal."""

    @functools.wraps(service)
    def wrapper(*args, **kwargs):
        return retry_on_conflict(
            lambda: service(*args, **kwargs),
            what=service.__name__,
            on_exhausted=lambda busy: _audit_busy(service.__name__, kwargs, busy),
        )

    return wrapper


def _audit_busy(attempted: str, kwargs: dict, busy: Busy) -> None:
    actor = kwargs.get("actor")
    target: dict = {}
    if (case_id := kwargs.get("case_id") or kwargs.get("source_case_id")) is not None:
        target = {"object_type": "cases.case", "object_id": case_id}
    elif kwargs.get("transaction_id"):
        target = {"object_type": "cases.transaction", "object_repr": kwargs["transaction_id"]}
    audit_record(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=AuditAction.REFUSED,
        **target,
        after={"attempted": attempted, "error": busy.code, "message": busy.message},
    )
