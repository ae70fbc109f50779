"""Builders for workflow tests: users in roles, queues, cases with transactions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from cases.ingest.case_opening import cases_refresh_priority
from cases.models import Case, Queue, ReasonCode, Transaction

_ids = itertools.count(1)


def make_user(username: str, *roles: str):
    user = get_user_model().objects.create_user(username, password="a-long-test-password")
    user.groups.add(*Group.objects.filter(name__in=roles))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def make_queue(name: str = "General", *members, **fields) -> Queue:
    queue = Queue.objects.create(name=name, **fields)
    queue.members.add(*members)
    return queue


def make_case(
    queue: Queue | None = None, *, account_id: str | None = None, transactions: int = 2, **fields
) -> Case:
    number = next(_ids)
    case = Case.objects.create(account_id=account_id or f"acc_w{number}", queue=queue, **fields)
    for index in range(transactions):
        Transaction.objects.create(
            transaction_id=f"tx_w{number}_{index}", account_id=case.account_id,
            occurred_at=datetime(2026, 11, 1, 12, index, tzinfo=UTC), amount=Decimal("100.00") * (index + 1),
            currency="EUR", country="DE", source_ip=f"81.2.69.{number % 250 + 1}", device_id=f"dev_w{number}",
            similarity_score=0.7 + index / 100, model_version="m1", outcome="investigate", case=case,
        )  # fmt: skip
    cases_refresh_priority(case_ids=[case.pk])
    case.refresh_from_db()
    return case


def make_reason_codes() -> None:
    ReasonCode.objects.create(
        code="customer-confirmed",
        label="Customer confirmed the payment",
        resolution="false_positive",
    )
    ReasonCode.objects.create(
        code="card-compromised", label="Card details compromised", resolution="confirmed_fraud"
    )
    ReasonCode.objects.create(code="insufficient-evidence", label="Not enough evidence")
    ReasonCode.objects.create(code="retired", label="Old code", active=False)
