"""Ingest of flagged-transaction files from S3: register objects, then take each in once.

The unit of work is an IngestRun: one (bucket, key, ETag). Rows are read in chunks; each
chunk's transactions, quarantined rows and the run's counters commit together, so the run's
rows_read is always a consistent checkpoint. A run interrupted by a crash resumes there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from cases import dispatch
from cases.audit.trail import audit_record, refusals_audited, system_actor
from cases.errors import NotFound, TransitionNotAllowed
from cases.ingest import inbox, kinds, lease, outages
from cases.ingest.background import in_background
from cases.ingest.chunks import commit_chunk, prepared_chunks
from cases.ingest.readers import ResumePoint, UnreadableFile, file_format, read_records
from cases.ingest.s3_object import S3ObjectFile
from cases.models import AuditAction, IngestRun, WebhookEventType
from cases.policies import require_permission
from cases.s3 import s3_client
from cases.webhooks.services import webhook_event_record

logger = logging.getLogger(__name__)

FINISHED = lease.FINISHED
# Runs queued again per beat sweep at most (the rest wait for the next sweep).
RETRY_SWEEP_LIMIT = 100
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
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    yield from _s3_objects(bucket, (item for page in pages for item in page.get("Contents", [])))


def _s3_objects(bucket: str, items) -> Iterator[S3Object]:
    """ListObjectsV2 entries as S3Objects, folder markers left out."""
    for item in items:
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
            "kind": kinds.run_kind_for_key(s3_object.key),
        },
    )


def _format_or_blank(key: str) -> str:
    try:
        return file_format(key)
    except UnreadableFile:
        return ""


INBOX_PREFIXES = kinds.INBOX_PREFIXES


def inbox_scan(
    *, bucket: str | None = None, prefix: str | None = None, client=None, full: bool = False
) -> list[int]:
    """Register the new objects under the inbox prefixes (flagged/, curation/, shadow/), or every
    object under the one prefix given; return the ids of runs a worker should take.

    The inbox prefixes are listed from their cursor (cases.ingest.inbox): only keys after the
    last one listed, and everything once every FRAUDCASE_INBOX_FULL_RESCAN_SECONDS (or when
    full), which finds keys that sort before the cursor. A prefix given (an operator's or the
    API's request) is listed whole and moves no cursor.

    The runs returned are new runs and unfinished runs that stopped progressing: no heartbeat
    (claim, committed chunk, queued again) for longer than the stale limit, because their task
    was lost or their worker died. A run that keeps committing chunks is never sent twice,
    however long it takes; finished runs are never handed out again.
    """
    bucket = bucket or settings.FRAUDCASE_INBOX_BUCKET
    prefixes = (prefix,) if prefix else INBOX_PREFIXES
    client = client or s3_client()
    to_dispatch = []
    for inbox_prefix in prefixes:
        if prefix:
            objects = list_objects(bucket=bucket, prefix=inbox_prefix, client=client)
        else:
            listing = inbox.listing_start(bucket, inbox_prefix, full=full)
            objects = _s3_objects(bucket, inbox.listed_keys(listing, client))
        for s3_object in objects:
            run, created = ingest_run_register(s3_object=s3_object, triggered_by="inbox scan")
            if created:
                to_dispatch.append(run.pk)
                if not prefix:
                    listing.registered.append(run.pk)
        if not prefix:
            inbox.listing_finish(listing)
    stopped = (
        IngestRun.objects.filter(bucket=bucket)
        .exclude(status__in=FINISHED)
        .filter(lease.stale())
        .filter(_key_under(prefixes))
        .exclude(pk__in=to_dispatch)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    return to_dispatch + list(stopped)


def _key_under(prefixes) -> Q:
    condition = Q(pk__in=[])
    for prefix in prefixes:
        condition |= Q(key__startswith=prefix)
    return condition


def ingest_run_execute(*, run_id: int, progress: ProgressCallback | None = None) -> IngestRun:
    """Take in one registered object. Idempotent and retry-safe.

    A finished run is returned unchanged; a run held by another worker's live lease is
    returned as it is; an interrupted run resumes after its last committed row. A run that
    spent its attempts (FRAUDCASE_INGEST_MAX_ATTEMPTS: a file that kills its worker comes
    back each time) fails with that reason. File-level problems fail the run with one
    message; S3 out of reach fails it for beat to retry later. Other transient errors
    (database) propagate for the caller to retry.
    """
    claim = lease.run_claim(run_id)
    if claim.attempts_spent:
        ingest_run_fail(run_id=run_id, message=_attempts_spent_message(claim.run))
        return IngestRun.objects.get(pk=run_id)
    if claim.token is None:
        return claim.run
    run, token = claim.run, claim.token
    try:
        _ingest(run, token, progress)
    except lease.LeaseLost:
        logger.warning("ingest run %s: another worker took it over; this one stops", run_id)
    except Exception as exc:
        if outages.s3_unreachable(exc):
            message, retry_in = _unreachable_message(run_id, exc)
        else:
            message, retry_in = _failure_message(run, exc), None
        if message is None:
            lease.run_release(run_id, token)
            raise
        ingest_run_fail(run_id=run_id, message=message, claimed_by=token, retry_in=retry_in)
    except BaseException:  # the worker is stopping: let the next attempt take it at once
        lease.run_release(run_id, token)
        raise
    run.refresh_from_db()
    return run


def _failure_message(run: IngestRun, exc: Exception) -> str | None:
    """What the run's failure says, or None for an error a retry of the task may heal."""
    full = outages.disk_full(exc)
    if full is not None:
        return disk_full_message(run.pk, full)
    if isinstance(exc, UnreadableFile):
        return _with_partial_note(run.pk, str(exc))
    if isinstance(exc, ClientError):
        return _client_error_message(run, exc)
    return None


def disk_full_message(run_id: int, where: str) -> str:
    """A full disk is no passing error (a retry would fail the same way): say so plainly."""
    rows = IngestRun.objects.filter(pk=run_id).values_list("rows_read", flat=True).first()
    kept = f"the {rows} rows committed before are kept; " if rows else ""
    return f"disk full: {where}; {kept}free space, then re-run it"


def _unreachable_message(run_id: int, exc: Exception) -> tuple[str, timedelta | None]:
    run = IngestRun.objects.get(pk=run_id)
    kept = f"the {run.rows_read} rows committed before are kept; " if run.rows_read else ""
    message = f"S3 was unreachable ({exc}); {kept}"
    left = lease.attempts_left(run)
    if left == 0:
        return message + _spent(run) + ": re-run it once S3 is back", None
    delay = outages.retry_delay(run.attempts - run.attempts_at_rerun)
    return (
        message + f"retried automatically in {int(delay.total_seconds())} s "
        f"({left} attempt(s) left)"
    ), delay


def _spent(run: IngestRun) -> str:
    return f"gave up after {run.attempts - run.attempts_at_rerun} attempts (the cap)"


def _attempts_spent_message(run: IngestRun) -> str:
    last = f" Last error: {run.error}" if run.error else ""
    return (
        f"{_spent(run)}: none of them finished; the worker was lost each time (out of memory, "
        "past its time limit, or its node stopped) or hit the same error. "
        f"The {run.rows_read} rows committed are kept; fix the cause and re-run it.{last}"
    )


def ingest_run_fail(
    *,
    run_id: int,
    message: str,
    claimed_by: str | None = None,
    retry_in: timedelta | None = None,
) -> None:
    """Mark a run failed with the operator-facing message (what was committed stays).

    claimed_by: only while that lease holds it ("": only while nobody holds it), so a worker
    never fails a run another one took over. retry_in: S3 was out of reach; beat queues it
    again after this long.
    """
    runs = IngestRun.objects.filter(pk=run_id).exclude(status__in=FINISHED)
    if claimed_by is not None:
        runs = runs.filter(claimed_by=claimed_by)
    with transaction.atomic():
        failed = runs.update(
            status=IngestRun.Status.FAILED, error=message, finished_at=Now(), updated_at=Now(),
            claimed_by="", retry_at=None if retry_in is None else Now() + retry_in,
        )  # fmt: skip
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


def _ingest(run: IngestRun, token: str, progress: ProgressCallback | None) -> None:
    fmt = file_format(run.key)
    source = S3ObjectFile(
        s3_client(), bucket=run.bucket, key=run.key, etag=run.etag, size=run.size_bytes
    )
    resume = ResumePoint(run.rows_read, run.resume_offset, run.resume_line)
    records = read_records(source, fmt, resume=resume, **kinds.reader_contract(run))
    chunks = prepared_chunks(run, records, source)
    # Reading, parsing and validating the next chunk (a thread) overlaps loading this one (the
    # database's work, during which this thread waits without holding the GIL).
    for chunk in in_background(chunks, depth=PREFETCH_CHUNKS):
        commit_chunk(run, chunk, claimed_by=token)
        _report(run, progress)
    with transaction.atomic():
        lease.run_checkpoint(
            run.pk, token, status=IngestRun.Status.SUCCEEDED, finished_at=Now(),
            bytes_read=source.bytes_read, claimed_by="",
        )  # fmt: skip
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
            # A new allowance of attempts: the operator fixed what spent the last one.
            _queue_again(run, error="", attempts_at_rerun=run.attempts)
            audit_record(
                actor=actor, action=AuditAction.INGEST_RERUN, obj=run, object_repr=run.uri,
                before=before, after={"status": run.status, "resumes_after_row": run.rows_read},
            )  # fmt: skip
            dispatch.queue_on_commit(dispatch.INGEST_OBJECT, run.pk, robust=False)
            return run


def _queue_again(run: IngestRun, **changes) -> None:
    IngestRun.objects.filter(pk=run.pk).update(
        status=IngestRun.Status.QUEUED, finished_at=None, retry_at=None, claimed_by="",
        heartbeat_at=Now(), updated_at=Now(), **changes,
    )  # fmt: skip
    run.refresh_from_db()


def ingest_runs_retry_due() -> list[int]:
    """Beat: queue again the runs that failed because S3 was out of reach, once their retry
    time came (the backoff doubles per attempt; the attempts cap ends it). Returns their ids.

    They resume after their last committed row; the run keeps its error until a worker
    takes it. Each is audited as a re-run by the system.
    """
    with transaction.atomic():
        due = list(
            IngestRun.objects.select_for_update(skip_locked=True)
            .filter(status=IngestRun.Status.FAILED, retry_at__lte=Now())
            .order_by("retry_at", "pk")[:RETRY_SWEEP_LIMIT]
        )
        for run in due:
            before = {"status": run.status, "error": run.error}
            _queue_again(run)
            audit_record(
                actor=system_actor(), action=AuditAction.INGEST_RERUN, obj=run,
                object_repr=run.uri, before=before,
                after={"status": run.status, "resumes_after_row": run.rows_read,
                       "reason": "S3 was unreachable: retried automatically"},
            )  # fmt: skip
            dispatch.queue_on_commit(dispatch.INGEST_OBJECT, run.pk)
    return [run.pk for run in due]
