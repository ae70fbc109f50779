"""Real-time intake over the API, and ingests started on request: the S3 contract by other doors.

A submitted batch is one IngestRun of its own (bucket "api", key "flags/<uuid>"), read as a
JSON Lines file would be and loaded by the same chunk code (cases.ingest.chunks), so the
validation, quarantine, idempotency on transaction_id, case opening and routing, and the books
are the S3 path's, and the case is in its queue when the call returns.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from django.db import connection, transaction
from django.db.models import QuerySet

from cases import dispatch
from cases.audit.trail import audit_record, model_changes_recorded_by_service, refusals_audited
from cases.clock import database_now
from cases.errors import ActionNotPermitted, InvalidInput, NotFound
from cases.ingest.chunks import commit_chunk, prepared_chunks
from cases.ingest.readers import SourceRecord
from cases.ingest.services import INBOX_PREFIXES, inbox_scan
from cases.models import REFERENCE_PREFIX, AuditAction, IngestRun, QuarantinedRow
from cases.policies import (
    may_read_cases,
    require_permission,
    sees_every_case,
    visible_case_ids,
)
from cases.sqlarrays import text_array

MAX_BATCH_ROWS = 1000
API_BUCKET = "api"
API_KEY_PREFIX = "flags/"


class Outcome:
    LOADED = "loaded"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


@dataclass(slots=True)
class RowResult:
    index: int
    transaction_id: str
    outcome: str
    reasons: list[str] = field(default_factory=list)
    case_reference: str | None = None


@dataclass(slots=True)
class IntakeResult:
    run: IngestRun
    rows: list[RowResult]


class _SubmittedBody:
    """What prepared_chunks reads progress from (an S3ObjectFile, for S3)."""

    def __init__(self, size_bytes: int) -> None:
        self.bytes_read = size_bytes


def flags_submit(*, actor, rows: list, size_bytes: int = 0) -> IntakeResult:
    """Take in flagged transactions posted to the API, as one ingest run of their own.

    Every row gets an outcome, in input order: loaded (its case opened or joined and routed),
    duplicate (its transaction_id is already known, or came earlier in the batch: never loaded
    twice) or quarantined with every reason (kept as a QuarantinedRow, never dropped). Rows are
    numbered from 1 in the run's books and quarantine. All of it commits together, with one
    event; needs submit_flags. At most MAX_BATCH_ROWS rows (InvalidInput beyond).
    """
    with refusals_audited(actor=actor, attempted="flags_submit"):
        require_permission(actor, "submit_flags", attempted="submit flagged transactions")
        if not rows:
            raise InvalidInput("no rows: send a flagged transaction or a non-empty array of them")
        if len(rows) > MAX_BATCH_ROWS:
            raise InvalidInput(f"{len(rows)} rows: a batch holds at most {MAX_BATCH_ROWS}")
        records = [_source_record(number, row) for number, row in enumerate(rows, start=1)]
        # The chunk's tasks go to the broker in one round trip, after the commit.
        with dispatch.sends_batched(), transaction.atomic(), model_changes_recorded_by_service():
            now = database_now()
            run_key = uuid.uuid4().hex
            run = IngestRun.objects.create(
                bucket=API_BUCKET, key=f"{API_KEY_PREFIX}{run_key}", etag=run_key,
                kind=IngestRun.Kind.FLAGGED, file_format="json", size_bytes=size_bytes,
                status=IngestRun.Status.RUNNING, triggered_by=actor.get_username()[:64],
                attempts=1, started_at=now,
            )  # fmt: skip
            quarantined: dict[int, list[str]] = {}
            clean_ids: dict[int, str] = {}
            for chunk in prepared_chunks(
                run, iter(records), _SubmittedBody(size_bytes), a_file=False
            ):
                commit_chunk(run, chunk)
                quarantined.update({row.row_number: row.reasons for row in chunk.quarantined})
                clean_ids.update({number: clean.transaction_id for number, clean in chunk.good})
            # One round trip: the counters the chunks added come back with the update.
            [run] = IngestRun.objects.raw(
                f"UPDATE {IngestRun._meta.db_table} SET status = %s,"
                " finished_at = clock_timestamp() WHERE id = %s RETURNING *",
                [IngestRun.Status.SUCCEEDED, run.pk],
            )
            results = _row_results(actor, run, records, quarantined, clean_ids)
            audit_record(
                actor=actor, action=AuditAction.INGEST_RUN_FINISHED, obj=run,
                object_repr=run.uri,
                after={
                    "status": run.status, "via": "api", "rows_read": run.rows_read,
                    "rows_loaded": run.rows_loaded, "rows_duplicate": run.rows_duplicate,
                    "rows_quarantined": run.rows_quarantined, "cases_opened": run.cases_opened,
                },
            )  # fmt: skip
        return IntakeResult(run=run, rows=results)


def _source_record(number: int, row) -> SourceRecord:
    if isinstance(row, dict):
        return SourceRecord(row_number=number, values=row)  # raw text made if quarantined
    # The JSON Lines reader's words for a line that is not an object.
    raw = json.dumps(row, ensure_ascii=False)
    return SourceRecord(
        row_number=number,
        values=None,
        raw=raw,
        errors=[f"not a JSON object but a {type(row).__name__}"],
    )


def _row_results(actor, run: IngestRun, records, quarantined, clean_ids) -> list[RowResult]:
    """Each row's outcome, read back from what this run committed (inside its transaction)."""
    with connection.cursor() as cursor:
        # One array parameter, as the chunk's own lookup (an IN list costs ms per thousand ids).
        cursor.execute(
            "SELECT transaction_id, ingest_run_id, case_id FROM cases_transaction"
            " WHERE transaction_id = ANY(%s::text[])",
            [text_array(set(clean_ids.values()))],
        )
        stored = {tx_id: (run_id, case_id) for tx_id, run_id, case_id in cursor.fetchall()}
    shown_cases = visible_case_ids(actor, {case_id for _, case_id in stored.values()})
    results, loaded_ids = [], set()
    for record in records:
        index = record.row_number - 1
        if record.row_number in quarantined:
            tx_id = record.values.get("transaction_id") if record.values else None
            results.append(
                RowResult(
                    index,
                    tx_id if isinstance(tx_id, str) else "",
                    Outcome.QUARANTINED,
                    reasons=quarantined[record.row_number],
                )  # fmt: skip
            )
            continue
        tx_id = clean_ids[record.row_number]
        run_id, case_id = stored[tx_id]
        first_time = run_id == run.pk and tx_id not in loaded_ids
        loaded_ids.add(tx_id)
        # Case.reference's spelling: a model instance per row cost a third of a batch's time.
        reference = f"{REFERENCE_PREFIX}{case_id:06d}" if case_id in shown_cases else None
        outcome = Outcome.LOADED if first_time else Outcome.DUPLICATE
        results.append(RowResult(index, tx_id, outcome, case_reference=reference))
    return results


def ingest_runs_start(*, actor, prefix: str, bucket: str | None = None) -> list[IngestRun]:
    """Register every object under prefix (flagged/..., curation/... or shadow/...) and queue each new run,
    and each run whose worker was lost, once this commits; returns those runs, oldest first.

    Idempotent on (bucket, key, ETag): an object already taken in is not taken in again.
    Needs submit_flags or rerun_ingest. An S3 refusal to list is InvalidInput.
    """
    with refusals_audited(actor=actor, attempted="ingest_runs_start"):
        if not (actor.has_perm("cases.submit_flags") or actor.has_perm("cases.rerun_ingest")):
            require_permission(actor, "submit_flags", attempted="start ingest runs")
        if not prefix.startswith(INBOX_PREFIXES):
            raise InvalidInput(f"prefix must start with one of {', '.join(INBOX_PREFIXES)}")
        with transaction.atomic():
            try:
                run_ids = inbox_scan(bucket=bucket, prefix=prefix)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "error")
                raise InvalidInput(f"S3 refused to list {bucket or 'the inbox'}: {code}") from None
            # Runs nobody took yet are the caller's; those already attempted keep their name.
            IngestRun.objects.filter(pk__in=run_ids, attempts=0).update(
                triggered_by=actor.get_username()[:64]
            )
            for run_id in run_ids:
                dispatch.queue_on_commit(dispatch.INGEST_OBJECT, run_id)
            return list(IngestRun.objects.filter(pk__in=run_ids).order_by("created_at", "pk"))


def ingest_runs_for(*, viewer) -> QuerySet[IngestRun]:
    """Every ingest run, for a role that reads cases (runs hold counts and keys, no case data)."""
    if not may_read_cases(viewer):
        raise ActionNotPermitted("this role does not read cases or their ingest runs")
    return IngestRun.objects.all()


def ingest_run_for(*, viewer, run_id: int) -> IngestRun:
    run = ingest_runs_for(viewer=viewer).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"no ingest run {run_id}")
    return run


def quarantined_rows_for(*, viewer, run_id: int) -> QuerySet[QuarantinedRow]:
    """A run's quarantined rows. Raw rows may name any account: only for readers who see every
    case; for the others the run's quarantine does not exist (NotFound, as a hidden case)."""
    run = ingest_run_for(viewer=viewer, run_id=run_id)
    if not sees_every_case(viewer):
        raise NotFound(f"no ingest run {run_id}")
    return QuarantinedRow.objects.filter(ingest_run=run)
