"""Celery tasks of cases.watchers (thin wrappers over its services); found by the Celery app's
autodiscovery (fraudcase/celery.py)."""

from __future__ import annotations

from celery import shared_task

from cases.audit.trail import system_actor
from cases.task_options import recomputable
from cases.watchers.services import case_reminders_send


# Idempotent (one reminder per person, case and reply date): a retry or a second run adds none.
@shared_task(**recomputable(soft_seconds=600))
def remind_waiting_cases() -> int:
    """Beat: remind who works or follows a case waiting on the customer past its reply date."""
    return case_reminders_send(actor=system_actor())
