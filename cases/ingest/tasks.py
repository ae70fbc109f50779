"""Ingest's Celery tasks: beat scans the inbox, a worker takes in one object per task."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from cases import dispatch
from cases.ingest import outages
from cases.ingest import selectors as ingest_selectors
from cases.ingest import services as ingest_services
from cases.task_options import RETRYABLE

logger = logging.getLogger(__name__)


class IngestTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Retries are spent: say so on the run instead of leaving it "running" forever (unless
        # another worker holds it now: claimed_by="" fails it only while nobody does).
        run_id = kwargs.get("run_id", args[0] if args else None)
        if run_id is not None:
            full = outages.disk_full(exc)
            message = (
                ingest_services.disk_full_message(run_id, full)
                if full is not None
                else f"gave up after repeated errors: {exc!r}"
            )
            ingest_services.ingest_run_fail(run_id=run_id, message=message, claimed_by="")


@shared_task(
    base=IngestTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=RETRYABLE,
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
)
def ingest_object(self, run_id: int) -> str:
    """Take in one registered S3 object; safe to run twice (see ingest_run_execute).

    A run another worker's lease holds (a redelivered task whose worker died a moment ago) is
    tried again when that lease would expire; the inbox scan is the backstop after that.
    """
    run = ingest_services.ingest_run_execute(run_id=run_id)
    if run.status not in ingest_services.FINISHED and self.request.retries < self.max_retries:
        left = ingest_selectors.ingest_run_lease_left(run_id)
        if left is not None:
            raise self.retry(countdown=left + 1)
    return run.status


@shared_task(autoretry_for=RETRYABLE, retry_backoff=5, max_retries=3)
def scan_inbox() -> int:
    """Beat: register new inbox objects and send each to a worker of its own."""
    run_ids = ingest_services.inbox_scan()
    for run_id in run_ids:
        dispatch.queue(dispatch.INGEST_OBJECT, run_id)
    if run_ids:
        logger.info("inbox scan dispatched %d ingest run(s)", len(run_ids))
    return len(run_ids)


@shared_task(autoretry_for=RETRYABLE, retry_backoff=5, max_retries=3)
def retry_unreachable_ingests() -> int:
    """Beat: queue again the runs that failed because S3 was out of reach, once due."""
    run_ids = ingest_services.ingest_runs_retry_due()
    if run_ids:
        logger.info("queued %d ingest run(s) again after S3 was unreachable", len(run_ids))
    return len(run_ids)
