"""Celery tasks: thin wrappers that take ids and call services."""

from __future__ import annotations

import logging

from botocore import exceptions as boto_errors
from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from cases.ingest import services as ingest_services
from cases.services import similarity as similarity_services
from cases.task_options import recomputable
from cases.tasks_ip import enrich_ips, sweep_ip_enrichment  # noqa: F401 - registered with the worker

logger = logging.getLogger(__name__)

# Network, S3 and database hiccups heal; a file-level problem fails its run inside the service,
# and configuration errors (no credentials, bad data) fail at once instead of retrying.
RETRYABLE = (
    boto_errors.ConnectionError,
    boto_errors.HTTPClientError,
    boto_errors.ClientError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


class IngestTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Retries are spent: say so on the run instead of leaving it "running" forever.
        run_id = kwargs.get("run_id", args[0] if args else None)
        if run_id is not None:
            ingest_services.ingest_run_fail(
                run_id=run_id, message=f"gave up after repeated errors: {exc!r}"
            )


@shared_task(
    base=IngestTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=RETRYABLE,
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
)
def ingest_object(run_id: int) -> str:
    """Take in one registered S3 object; safe to run twice (see ingest_run_execute)."""
    run = ingest_services.ingest_run_execute(run_id=run_id)
    return run.status


@shared_task(autoretry_for=RETRYABLE, retry_backoff=5, max_retries=3)
def scan_inbox() -> int:
    """Beat: register new inbox objects and send each to a worker of its own."""
    run_ids = ingest_services.inbox_scan()
    for run_id in run_ids:
        ingest_object.delay(run_id)
    if run_ids:
        logger.info("inbox scan dispatched %d ingest run(s)", len(run_ids))
    return len(run_ids)


# Recomputable from the database at any time: retried on database hiccups, redone when a
# worker dies mid-way (acks late), and bounded in time.
@shared_task(**recomputable(soft_seconds=1800))
def refresh_neighbour_verdicts(case_ids: list[int]) -> int:
    """Recompute these cases' centroids and neighbour verdicts (queued by ingest per chunk)."""
    return similarity_services.cases_refresh_neighbour_verdict(case_ids=case_ids)


@shared_task(**recomputable(soft_seconds=3 * 3600))
def refresh_open_case_neighbour_verdicts() -> int:
    """Beat: labels given since the last run change open cases' verdicts; recompute them all."""
    return similarity_services.cases_refresh_all_neighbour_verdicts()


# Drains the backlog until it is empty; several at once share it (SKIP LOCKED), and a backlog
# large against the graph (a backfill) is built in at once. Queued after each ingest chunk and
# by beat every minute, so a lost message only delays the graph.
@shared_task(**recomputable(soft_seconds=6 * 3600, max_retries=5))
def index_new_embeddings() -> int:
    """Add the embeddings waiting in the backlog to the nearest-neighbour graph."""
    return similarity_services.similarity_graph_refresh()


# A snapshot in one transaction: a retry or a second run writes a new one and drops the old.
@shared_task(**recomputable(soft_seconds=1800))
def compute_rings(requested_by_name: str = "") -> int | None:
    """Beat, or a lead on the rings page: recompute the fraud rings; returns the snapshot id."""
    from cases.services.rings import rings_compute

    snapshot = rings_compute(requested_by_name=requested_by_name)
    return snapshot.pk if snapshot else None


# Label export tasks live in their own module; importing them here registers them with the
# worker (autodiscovery looks at cases.tasks only).
from cases.tasks_labels import export_labels, sweep_label_exports  # noqa: E402,F401


# Safe to retry and to run twice: the anchor's key follows from the chain head, never overwritten.
@shared_task(autoretry_for=RETRYABLE, retry_backoff=5, max_retries=5, soft_time_limit=300)
def anchor_audit_chain() -> str:
    """Beat: anchor the audit chain's head in the audit bucket (cases.services.audit_anchor)."""
    from cases.audit import system_actor
    from cases.services.audit_anchor import audit_anchor

    result = audit_anchor(actor=system_actor())
    return result.key if result else ""
