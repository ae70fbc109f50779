"""Celery tasks sending webhook deliveries (thin wrappers over cases/webhooks/delivery.py)."""

from __future__ import annotations

from celery import shared_task

from cases.task_options import recomputable
from cases.webhooks.delivery import webhook_deliveries_send_due

# Receivers' errors are recorded per delivery (retried by next_attempt_at, not by Celery);
# only database hiccups retry the task. Acks late: a worker lost mid-batch is redone, and the
# delivery leases keep two workers off the same delivery.
DELIVERY_TASK_OPTIONS = recomputable(soft_seconds=300, max_retries=5)


@shared_task(**DELIVERY_TASK_OPTIONS)
def deliver_webhooks() -> int:
    """Queued on commit of each recorded event: send whatever is due."""
    return webhook_deliveries_send_due()


@shared_task(**DELIVERY_TASK_OPTIONS)
def sweep_webhook_deliveries() -> int:
    """Beat, every minute: retries that came due, and what a lost message left behind."""
    return webhook_deliveries_send_due()
