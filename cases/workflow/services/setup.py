"""Sensible starting workflow for a fresh install: a default queue, a high-risk queue, reasons."""

from __future__ import annotations

from django.db import transaction

from cases.models import Queue, ReasonCode
from cases.workflow.services.queues import queue_save, reason_code_save

DEFAULT_REASON_CODES = (
    # (code, label, resolution it fits; empty = any)
    ("customer-confirmed", "Customer confirmed the transactions", "false_positive"),
    ("known-behaviour", "Consistent with the account's known behaviour", "false_positive"),
    ("merchant-verified", "Merchant verified the purchase", "false_positive"),
    ("card-compromised", "Card details compromised", "confirmed_fraud"),
    ("account-takeover", "Account taken over", "confirmed_fraud"),
    ("card-testing", "Card testing", "confirmed_fraud"),
    ("money-mule", "Money mule activity", "confirmed_fraud"),
    ("customer-unreachable", "Customer could not be reached", "inconclusive"),
    ("insufficient-evidence", "Not enough evidence either way", ""),
)


def workflow_defaults_ensure(*, actor, member_ids: list[int] = ()) -> list[Queue]:
    """Create the default reason codes and queues unless they exist (idempotent).

    "High risk" takes cases the detector would block (SLA 4 h); "General" takes the rest
    (SLA 24 h). member_ids join both queues.
    """
    with transaction.atomic():
        for code, label, resolution in DEFAULT_REASON_CODES:
            if not ReasonCode.objects.filter(code=code).exists():
                reason_code_save(actor=actor, code=code, label=label, resolution=resolution)
        queues = []
        for name, fields in (
            ("High risk", {"sla_hours": 4, "routing_order": 10, "outcomes": ["block"]}),
            ("General", {"sla_hours": 24, "routing_order": 100, "is_default": True}),
        ):
            queue = Queue.objects.filter(name=name).first()
            if queue is None:
                queue = queue_save(actor=actor, name=name, member_ids=list(member_ids), **fields)
            queues.append(queue)
        return queues
