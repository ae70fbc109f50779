"""The audit trail's Celery task: anchor the chain head in the audit bucket."""

from __future__ import annotations

from celery import shared_task

from cases.audit.anchors import audit_anchor
from cases.audit.trail import system_actor
from cases.task_options import RETRYABLE


# Safe to retry and to run twice: the anchor's key follows from the chain head, never overwritten.
@shared_task(autoretry_for=RETRYABLE, retry_backoff=5, max_retries=5, soft_time_limit=300)
def anchor_audit_chain() -> str:
    """Beat: anchor the audit chain's head in the audit bucket (cases.audit.anchors)."""
    result = audit_anchor(actor=system_actor())
    return result.key if result else ""
