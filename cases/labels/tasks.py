"""Celery tasks exporting labels to the retraining bucket (thin wrappers over the service)."""

from __future__ import annotations

import logging

from botocore import exceptions as boto_errors
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from cases import dispatch
from cases.labels.services import export as label_export
from cases.task_options import recomputable

logger = logging.getLogger(__name__)

# S3 unreachable or not confirming, database hiccups: retried with backoff. The outbox keeps
# every row meanwhile, and the beat sweep starts again once retries are spent.
RETRYABLE = (
    boto_errors.ConnectionError,
    boto_errors.HTTPClientError,
    boto_errors.ClientError,
    label_export.ExportNotConfirmed,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)

EXPORT_TASK_OPTIONS = {
    **recomputable(soft_seconds=1800, max_retries=12),
    "reject_on_worker_lost": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": settings.FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF,
    "retry_backoff_max": settings.FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF_MAX,
}


@shared_task(**EXPORT_TASK_OPTIONS)
def export_labels() -> int:
    """Queued on commit of a label unless one is pending: export everything waiting
    (idempotent). Labels saved from here on queue the next one."""
    dispatch.pending_clear(dispatch.EXPORT_LABELS)
    exported = label_export.labels_export_pending()
    if exported:
        logger.info("exported %d label batch(es)", exported)
    return exported


@shared_task(**EXPORT_TASK_OPTIONS)
def sweep_label_exports() -> int:
    """Beat, every minute: whatever a lost message or an S3 outage left in the outbox."""
    return label_export.labels_export_pending()
