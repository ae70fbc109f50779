"""Ingest of flagged-transaction files from S3: register objects, then take each in once.

The unit of work is an IngestRun: one (bucket, key, ETag). Rows are read in chunks; each
chunk's transactions, quarantined rows and the run's counters commit together, so the run's
rows_read is always a consistent checkpoint. A run interrupted by a crash resumes there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from cases import dispatch
from cases.audit.trail import audit_record, refusals_audited, system_actor
from cases.errors import NotFound, TransitionNotAllowed
from cases.ingest import curation
from cases.ingest.background import in_background
from cases.ingest.chunks import commit_chunk, prepared_chunks
from cases.ingest.readers import (
    CountingReader,
    UnreadableFile,
    file_format,
    read_records,
)
from cases.models import AuditAction, IngestRun, WebhookEventType
from cases.policies import require_permission
from cases.s3 import s3_client
from cases.webhooks.services import webhook_event_record

logger = logging.getLogger(__name__)

FINISHED = (IngestRun.Status.SUCCEEDED, IngestRun.Status.FAILED)
# Advisory-lock keys for ingest runs live above this offset, apart from any other use.
RUN_LOCK_NAMESPACE = 0x4643_0000_0000
# Chunks read and validated ahead of the one being loaded (each holds up to
# FRAUDCASE_INGEST_CHUNK_ROWS rows in memory).
PREFETCH_CHUNKS = 1

ProgressCallback = Callable[[IngestRun], None]


@dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    key: str
    etag: str
    size_bytes: int


def list_objects(*, bucket: str, prefix: str, client=None) -> Iterator[S3Object]:
    """Every object under the prefix, folder markers left out."""
    client = client or s3_client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            yield S3Object(bucket, item["Key"], item["ETag"].strip('"'), item["Size"])


def ingest_run_register(*, s3_object: S3Object, triggered_by: str) -> tuple[IngestRun, bool]:
    """The run for this exact object version, created once (idempotent on bucket, key, ETag)."""
    return IngestRun.objects.get_or_create(
        bucket=s3_object.bucket,
        key=s3_object.key,
        etag=s3_object.etag,
        defaults={
            "size_bytes": s3_object.size_bytes,
            "triggered_by": triggered_by,
            "file_format": _format_or_blank(s3_object.key),
            "kind": curation.run_kind_for_key(s3_object.key),
        },
    )


def _format_or_blank(key: str) -> str:
    try:
        return file_format(key)
    except UnreadableFile:
        return ""


INBOX_PREFIXES = ("flagged/", curation.CURATION_PREFIX)


def inbox_scan(*, bucket: str | None = None, prefix: str | None = None, client=None) -> list[int]:
    """Register every object under the inbox prefixes (flagged/ and curation/, or the one
    given); return the ids of runs a worker should take.

    Those are new runs and runs left queued or running for longer than the stale limit (their
    task was lost, or their worker died); finished runs are never handed out again.
    """
    bucket = bucket or settings.FRAUDCASE_INBOX_BUCKET
    stale_before = timezone.now() - timezone.timedelta(
        seconds=settings.FRAUDCASE_INGEST_STALE_SECONDS
    )
    to_dispatch = []
    for inbox_prefix in (prefix,) if prefix else INBOX_PREFIXES:
        for s3_object in list_objects(bucket=bucket, prefix=inbox_prefix, client=client):
            run, created = ingest_run_register(s3_object=s3_object, triggered_by="inbox scan")
            if created or (run.status not in FINISHED and run.updated_at < stale_before):
                to_dispatch.append(run.pk)
    return to_dispatch


@contextlib.contextmanager
def _run_lock(run_id: int) -> Iterator[bool]:
    """A session-level advisory lock on the run: one worker at a time, freed if it dies."""
    key = RUN_LOCK_NAMESPACE + run_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def ingest_run_execute(*, run_id: int, progress: ProgressCallback | None = None) -> IngestRun:
    """Take in one registered object. Idempotent and retry-safe.

    A finished run is returned unchanged; a run held by another worker is returned as it is;
    an interrupted run resumes after its last committed row. File-level problems fail the run
    with one message. Transient errors (network, database) propagate for the caller to retry.
    """
    with _run_lock(run_id) as acquired:
        run = IngestRun.objects.get(pk=run_id)
        if not acquired or run.status in FINISHED:
            return run
        IngestRun.objects.filter(pk=run_id).update(
            status=IngestRun.Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", timezone.now()),
            error="",
        )
        run.refresh_from_db()
        try:
            _ingest(run, progress)
        except UnreadableFile as exc:
            ingest_run_fail(run_id=run_id, message=_with_partial_note(run_id, str(exc)))
        except ClientError as exc:
            message = _client_error_message(run, exc)
            if message is None:
                raise
            ingest_run_fail(run_id=run_id, message=message)
        run.refresh_from_db()
        return run


def ingest_run_fail(*, run_id: int, message: str) -> None:
    """Mark a run failed with the operator-facing message (what was committed stays)."""
    with transaction.atomic():
        failed = (
            IngestRun.objects.filter(pk=run_id)
            .exclude(status__in=FINISHED)
            .update(status=IngestRun.Status.FAILED, error=message, finished_at=timezone.now())
        )
        if failed:
            _audit_run_finished(run_id)
    logger.warning("ingest run %s failed: %s", run_id, message)


def _audit_run_finished(run_id: int) -> None:
    run = IngestRun.objects.get(pk=run_id)
    audit_record(
        actor=system_actor(),
        action=AuditAction.INGEST_RUN_FINISHED,
        obj=run,
        object_repr=run.uri,
        after={
            "status": run.status, "etag": run.etag, "rows_read": run.rows_read,
            "rows_loaded": run.rows_loaded, "rows_duplicate": run.rows_duplicate,
            "rows_quarantined": run.rows_quarantined, "error": run.error,
        },
    )  # fmt: skip
    webhook_event_record(type=WebhookEventType.INGEST_RUN_FAILED if run.status == IngestRun.Status.FAILED else WebhookEventType.INGEST_RUN_FINISHED, payload={"run_id": run.pk, "uri": run.uri, "status": run.status, "rows_read": run.rows_read, "rows_loaded": run.rows_loaded, "rows_quarantined": run.rows_quarantined, "error": run.error})  # fmt: skip


def _with_partial_note(run_id: int, message: str) -> str:
    run = IngestRun.objects.get(pk=run_id)
    if run.rows_read:
        return (
            f"{message}. The {run.rows_read} rows read before the break were kept "
            "(loaded or quarantined); upload a repaired file: ids already loaded count as duplicates."
        )
    return message


def _client_error_message(run: IngestRun, exc: ClientError) -> str | None:
    """A message for S3 errors that retrying cannot fix, None for the others."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchKey", "404", "NotFound"):
        return f"the object {run.uri} no longer exists; nothing more was loaded"
    if code in ("PreconditionFailed", "412"):
        return (
            f"the object {run.uri} changed since it was listed (ETag {run.etag}); "
            "its new version is a new run at the next scan"
        )
    if code in ("AccessDenied", "403", "NoSuchBucket", "InvalidObjectState"):
        return f"S3 refused to give {run.uri}: {code}"
    return None


def _ingest(run: IngestRun, progress: ProgressCallback | None) -> None:
    fmt = file_format(run.key)
    response = s3_client().get_object(Bucket=run.bucket, Key=run.key, IfMatch=f'"{run.etag}"')
    body = CountingReader(response["Body"])
    records = read_records(body, fmt, **curation.reader_contract(run))
    chunks = prepared_chunks(run, records, body)
    # Reading, parsing and validating the next chunk (a thread) overlaps loading this one (the
    # database's work, during which this thread waits without holding the GIL).
    for chunk in in_background(chunks, depth=PREFETCH_CHUNKS):
        commit_chunk(run, chunk)
        _report(run, progress)
    with transaction.atomic():
        IngestRun.objects.filter(pk=run.pk).update(
            status=IngestRun.Status.SUCCEEDED,
            finished_at=timezone.now(),
            bytes_read=body.bytes_read,
        )
        _audit_run_finished(run.pk)
    _report(run, progress)


def _report(run: IngestRun, progress: ProgressCallback | None) -> None:
    if progress is not None:
        run.refresh_from_db()
        progress(run)


def ingest_run_rerun(*, actor, run_id: int) -> IngestRun:
    """Hand a failed run to a worker again (after the operator fixed the cause).

    It resumes after its last committed row, so nothing already loaded is loaded twice.
    """
    with refusals_audited(
        actor=actor, attempted="ingest_run_rerun", object_type="cases.ingestrun", object_id=run_id
    ):
        require_permission(actor, "rerun_ingest", attempted="re-run ingest runs")
        with transaction.atomic():
            run = IngestRun.objects.select_for_update().filter(pk=run_id).first()
            if run is None:
                raise NotFound(f"no ingest run {run_id}")
            if run.status != IngestRun.Status.FAILED:
                raise TransitionNotAllowed(
                    f"only a failed run can be re-run; run {run_id} is {run.status}"
                )
            before = {"status": run.status, "error": run.error}
            run.status, run.error, run.finished_at = IngestRun.Status.QUEUED, "", None
            run.save(update_fields=["status", "error", "finished_at", "updated_at"])
            audit_record(
                actor=actor, action=AuditAction.INGEST_RERUN, obj=run, object_repr=run.uri,
                before=before, after={"status": run.status, "resumes_after_row": run.rows_read},
            )  # fmt: skip
            dispatch.queue_on_commit(dispatch.INGEST_OBJECT, run.pk, robust=False)
            return run
