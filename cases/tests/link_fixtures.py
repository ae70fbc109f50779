"""Builders for link analysis, ring and IP map tests: accounts with transactions on given IPs
and devices, each account with its own case."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from cases.models import Case, CaseStatus, Transaction

_numbers = itertools.count(1)
WHEN = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def account_case(account_id: str, *, status: str = CaseStatus.OPEN) -> Case:
    """The account's case (created on first use; one per account)."""
    case = Case.objects.filter(account_id=account_id).order_by("-pk").first()
    if case is None:
        case = Case.objects.create(account_id=account_id, status=status)
    return case


def tx(
    account_id: str,
    *,
    ip: str | None = None,
    device: str = "",
    label: str = "",
    score: float = 0.7,
    outcome: str = "investigate",
    country: str = "DE",
    occurred_at: datetime = WHEN,
    case: Case | None = None,
) -> Transaction:
    number = next(_numbers)
    return Transaction.objects.create(
        transaction_id=f"tx_link_{number}", account_id=account_id, occurred_at=occurred_at,
        amount=Decimal("10.00"), currency="EUR", country=country, source_ip=ip, device_id=device,
        similarity_score=score, model_version="m1", outcome=outcome, label=label,
        case=case or account_case(account_id),
    )  # fmt: skip


def analyst_of_every_case(username: str = "ana"):
    """An analyst in a queue that holds every case made so far (reads them all)."""
    from cases.tests.workflow_fixtures import make_queue, make_user

    analyst = make_user(username, "analyst")
    queue = make_queue(f"Queue of {username}", analyst)
    Case.objects.update(queue=queue)
    return analyst
