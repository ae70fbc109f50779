"""Export label versions from the outbox to the retraining bucket, exactly once per batch.

1. Claim: outbox rows ready to go (FOR UPDATE SKIP LOCKED, so concurrent exporters never
   share one) are tied to a new LabelExportBatch whose id and object key are fixed there and
   then, in one committed transaction.
2. Write, with no row lock held while S3 is written: the batch is held by a lease (a short
   transaction sets claimed_by and lease_until, cases.holders); another reads its rows and
   sends back those held or quarantined since the claim; the rows are rendered
   deterministically (gzip with no timestamp) and written with Content-MD5, checked against
   the returned ETag and a HEAD, then the manifest likewise, with no transaction open.
3. Mark: a short transaction locks the batch row and its label versions (the house order),
   checks that the batch still holds exactly the rows written, all still pending, and marks
   the batch and its versions exported. A version quarantined while S3 was written makes
   the batch go back to step 2 (the same key, written again without it).

A crash anywhere before the mark leaves the batch "writing": the next run (at once when the
crashed holder was a process of this host, otherwise once its lease ran out) writes the same
key again, so the dataset never holds a second copy. The lease outlasts the export task's
hard time limit (FRAUDCASE_LABEL_EXPORT_LEASE_SECONDS), so a holder whose lease ran out is dead.

S3 errors propagate: the Celery task retries with backoff and the outbox keeps every row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from cases.audit.trail import audit_record, system_actor
from cases.clock import DatabaseNow, database_now
from cases.fileformats import encode_rows
from cases.holders import holder_gone_from_this_host, new_token
from cases.labels.selectors.backlog import exportable_outbox
from cases.labels.services.versions import analyst_pseudonym
from cases.models import (
    AuditAction,
    LabelExportAction,
    LabelExportBatch,
    LabelOutbox,
    LabelStatus,
    LabelVersion,
    WebhookEventType,
)
from cases.s3 import ensure_bucket, s3_client
from cases.webhooks.services import webhook_event_record

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Writes of one batch in a row whose labels changed (a quarantine) while S3 was written.
REWRITES = 3
EXPORTER_VERSION = "fraudcase-label-export/1"


class ExportNotConfirmed(RuntimeError):
    """S3 answered, but not with the object we wrote: retry the batch."""


class SimulatedCrash(RuntimeError):
    """Raised by the fault-injection setting between the S3 write and the mark (tests)."""


def batch_keys(batch_id: str, created_at) -> tuple[str, str]:
    """Data and manifest keys: <prefix>/dt=YYYY-MM-DD/labels-<batch id>.jsonl.gz (+ manifest)."""
    prefix = settings.FRAUDCASE_LABEL_EXPORT_PREFIX.strip("/")
    base = f"{prefix}/dt={created_at:%Y-%m-%d}/labels-{batch_id}"
    return f"{base}.jsonl.gz", f"{base}.manifest.json"


def label_batch_claim(*, max_rows: int | None = None) -> LabelExportBatch | None:
    """Tie up to max_rows waiting outbox rows to a new batch (None when nothing waits)."""
    max_rows = max_rows or settings.FRAUDCASE_LABEL_EXPORT_BATCH_ROWS
    with transaction.atomic():
        outbox_ids = list(
            exportable_outbox()
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")
            .values_list("id", flat=True)[:max_rows]
        )
        if not outbox_ids:
            return None
        # The database's clock (cases.clock): the dt= partition and the batch id do not depend
        # on which worker's clock claimed the batch.
        now = database_now()
        # Each outbox row joins exactly one batch, so its first row's id makes the id unique.
        batch_id = f"{now:%Y%m%dT%H%M%SZ}-{outbox_ids[0]:010d}"
        object_key, manifest_key = batch_keys(batch_id, now)
        batch = LabelExportBatch.objects.create(
            batch_id=batch_id,
            bucket=settings.FRAUDCASE_RETRAINING_BUCKET,
            object_key=object_key,
            manifest_key=manifest_key,
            created_at=now,
        )
        LabelOutbox.objects.filter(id__in=outbox_ids).update(batch=batch)
        return batch


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def label_row(entry: LabelOutbox, batch: LabelExportBatch) -> dict:
    """One JSON Lines row: the label (or its retraction) with its lineage."""
    version = entry.label_version
    row = {
        "record_type": "label" if entry.action == LabelExportAction.EXPORT else "retraction",
        "transaction_id": version.transaction.transaction_id,
        "label": version.label,
        "label_version": version.version,
        "supersedes_version": version.version - 1 if version.supersedes_id else None,
        "reason_codes": list(version.reason_codes),
        "case_reference": version.case.reference,
        "analyst_id": version.analyst_pseudonym,
        "decided_at": _iso(version.decided_at),
        "why": version.why,
        "source": version.source,
        "model_version": version.model_version,
        "similarity_score": version.similarity_score,
        "detector_outcome": version.detector_outcome,
        "neighbour_fraud_share": version.neighbour_fraud_share,
        "approved_by": analyst_pseudonym(version.reviewed_by) if version.reviewed_by_id else None,
        "batch_id": batch.batch_id,
        "outbox_id": entry.pk,
    }
    if entry.action == LabelExportAction.RETRACT:
        row["retracted_at"] = _iso(entry.created_at)
    return row


def render_batch(rows: list[dict]) -> bytes:
    """Gzipped JSON Lines with sorted keys, byte-identical for the same rows (gzip mtime 0)."""
    return encode_rows([dict(sorted(row.items())) for row in rows], "jsonl.gz")


def build_manifest(batch: LabelExportBatch, rows: list[dict], body: bytes) -> dict:
    decided = sorted(row["decided_at"] for row in rows)
    return {
        "batch_id": batch.batch_id,
        "object_key": batch.object_key,
        "row_count": len(rows),
        "label_rows": sum(1 for row in rows if row["record_type"] == "label"),
        "retraction_rows": sum(1 for row in rows if row["record_type"] == "retraction"),
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
        "decided_from": decided[0],
        "decided_to": decided[-1],
        "created_at": _iso(batch.created_at),
        "format": "jsonl.gz",
        "schema_version": SCHEMA_VERSION,
        "exporter_version": EXPORTER_VERSION,
    }


def _put_confirmed(client, *, bucket: str, key: str, body: bytes, content_type: str) -> str:
    """Write and confirm: S3 checks Content-MD5, the ETag and a HEAD must match. Returns the ETag."""
    md5 = hashlib.md5(body)  # noqa: S324 - S3's integrity check, not security
    response = client.put_object(
        Bucket=bucket, Key=key, Body=body, ContentType=content_type,
        ContentMD5=base64.b64encode(md5.digest()).decode(),
        Metadata={"sha256": hashlib.sha256(body).hexdigest()},
    )  # fmt: skip
    etag = response.get("ETag", "").strip('"')
    head = client.head_object(Bucket=bucket, Key=key)
    if etag != md5.hexdigest() or head.get("ContentLength") != len(body):
        raise ExportNotConfirmed(f"s3://{bucket}/{key}: S3 did not confirm what was written")
    if head.get("ETag", "").strip('"') != etag:
        raise ExportNotConfirmed(f"s3://{bucket}/{key}: changed while being written")
    return etag


def _fault_after_write(batch: LabelExportBatch) -> None:
    fault = settings.FRAUDCASE_LABEL_EXPORT_FAULT_AFTER_WRITE
    if fault == "raise":
        raise SimulatedCrash(f"fault injected after writing {batch.batch_id}")
    if fault == "exit":
        logger.error("fault injected: exiting after writing %s", batch.batch_id)
        os._exit(70)


class _LeaseLost(Exception):
    """Another exporter took the batch over (this one's lease had run out): stop, mark nothing."""


def _lease_take(batch_pk: int) -> str | None:
    """Hold the batch for this exporter (a short transaction of its own); None when it is
    finished or another exporter's lease on it is live."""
    with transaction.atomic():
        batch = (
            LabelExportBatch.objects.select_for_update(skip_locked=True)
            .annotate(now=DatabaseNow())
            .filter(pk=batch_pk, state=LabelExportBatch.State.WRITING)
            .first()
        )
        if batch is None:
            return None
        held = batch.claimed_by and batch.lease_until and batch.lease_until > batch.now
        if held and not holder_gone_from_this_host(batch.claimed_by):
            return None
        token = new_token()
        lease = timedelta(seconds=settings.FRAUDCASE_LABEL_EXPORT_LEASE_SECONDS)
        LabelExportBatch.objects.filter(pk=batch_pk).update(
            claimed_by=token, lease_until=DatabaseNow() + lease
        )
        return token


def _lease_release(batch_pk: int, token: str) -> None:
    LabelExportBatch.objects.filter(pk=batch_pk, claimed_by=token).update(
        claimed_by="", lease_until=None
    )


def _lock_held_batch(batch_pk: int, token: str) -> LabelExportBatch:
    batch = (
        LabelExportBatch.objects.select_for_update()
        .filter(pk=batch_pk, state=LabelExportBatch.State.WRITING, claimed_by=token)
        .first()
    )
    if batch is None:
        raise _LeaseLost(batch_pk)
    return batch


def _batch_entries(batch: LabelExportBatch) -> list[LabelOutbox]:
    return list(
        batch.entries.select_related(
            "label_version__transaction", "label_version__case", "label_version__reviewed_by"
        ).order_by("id")
    )


def _dropped_out(entries: list[LabelOutbox], versions: dict[int, LabelVersion]) -> list[int]:
    """Entries whose version was held or quarantined since the claim: out of the batch."""
    return [
        entry.pk
        for entry in entries
        if entry.action == LabelExportAction.EXPORT
        and versions[entry.label_version_id].status != LabelStatus.PENDING
    ]


def _locked_versions(entries: list[LabelOutbox]) -> dict[int, LabelVersion]:
    return {
        version.pk: version
        for version in LabelVersion.objects.select_for_update(no_key=True)
        .filter(pk__in={entry.label_version_id for entry in entries})
        .order_by("id")  # the house order (cases.locking): after the batch row
    }


def _entries_to_write(batch_pk: int, token: str) -> tuple[LabelExportBatch, list[LabelOutbox]]:
    """The batch's entries still to go, those that dropped out sent back to wait (or not):
    a short transaction, committed before S3 is written."""
    with transaction.atomic():
        batch = _lock_held_batch(batch_pk, token)
        entries = _batch_entries(batch)
        dropped = _dropped_out(entries, _locked_versions(entries))
        if dropped:
            LabelOutbox.objects.filter(pk__in=dropped).update(batch=None)
        return batch, [entry for entry in entries if entry.pk not in dropped]


def _write_objects(client, batch: LabelExportBatch, entries: list[LabelOutbox]) -> tuple[str, dict]:
    """Render and write the batch and its manifest, each confirmed; (ETag, manifest)."""
    rows = [label_row(entry, batch) for entry in entries]
    body = render_batch(rows)
    manifest = build_manifest(batch, rows, body)
    ensure_bucket(client, batch.bucket)
    etag = _put_confirmed(
        client, bucket=batch.bucket, key=batch.object_key, body=body,
        content_type="application/x-ndjson",
    )  # fmt: skip
    manifest_body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    _put_confirmed(
        client, bucket=batch.bucket, key=batch.manifest_key, body=manifest_body,
        content_type="application/json",
    )  # fmt: skip
    return etag, manifest


def _mark_exported(
    batch_pk: int, token: str, written: list[LabelOutbox], etag: str, manifest: dict
) -> LabelExportBatch | None:
    """Mark the batch exported with its versions, in one short transaction, when what was
    written is still what the batch holds; otherwise drop what changed and return None (the
    caller writes the batch again)."""
    with transaction.atomic():
        batch = _lock_held_batch(batch_pk, token)
        entries = _batch_entries(batch)
        versions = _locked_versions(entries)
        dropped = _dropped_out(entries, versions)
        if dropped or {entry.pk for entry in entries} != {entry.pk for entry in written}:
            # Quarantined (or held) while S3 was written: the object holds a row it must not.
            LabelOutbox.objects.filter(pk__in=dropped).update(batch=None)
            return None
        now = database_now()
        batch.state, batch.exported_at, batch.etag = LabelExportBatch.State.EXPORTED, now, etag
        batch.row_count, batch.sha256 = manifest["row_count"], manifest["sha256"]
        batch.decided_from = min(versions[e.label_version_id].decided_at for e in entries)
        batch.decided_to = max(versions[e.label_version_id].decided_at for e in entries)
        batch.claimed_by, batch.lease_until = "", None
        batch.save(
            update_fields=[
                "state", "exported_at", "etag", "row_count", "sha256", "decided_from", "decided_to",
                "claimed_by", "lease_until",
            ]
        )  # fmt: skip
        exported_ids = [e.label_version_id for e in entries if e.action == LabelExportAction.EXPORT]
        LabelVersion.objects.filter(pk__in=exported_ids).update(status=LabelStatus.EXPORTED)
        LabelVersion.objects.filter(pk__in=exported_ids, first_exported_at__isnull=True).update(
            first_exported_at=now
        )
        audit_record(
            actor=system_actor(), action=AuditAction.LABEL_BATCH_EXPORTED, obj=batch,
            object_repr=batch.batch_id,
            after={"bucket": batch.bucket, "object_key": batch.object_key, "row_count": batch.row_count,
                   "sha256": batch.sha256, "label_rows": manifest["label_rows"],
                   "retraction_rows": manifest["retraction_rows"]},
        )  # fmt: skip
        webhook_event_record(type=WebhookEventType.LABEL_EXPORTED, payload={"batch_id": batch.batch_id, "bucket": batch.bucket, "object_key": batch.object_key, "row_count": batch.row_count, "label_rows": manifest["label_rows"], "retraction_rows": manifest["retraction_rows"]})  # fmt: skip
        return batch


def _mark_empty(batch_pk: int, token: str) -> LabelExportBatch | None:
    with transaction.atomic():
        batch = _lock_held_batch(batch_pk, token)
        if batch.entries.exists():  # cannot happen (claims never add to a batch): write again
            return None
        batch.state, batch.claimed_by, batch.lease_until = LabelExportBatch.State.EMPTY, "", None
        batch.save(update_fields=["state", "claimed_by", "lease_until"])
        return batch


def label_batch_write(*, batch_pk: int) -> LabelExportBatch | None:
    """Write one claimed batch and mark it exported once S3 confirmed; idempotent.

    No row lock is held while S3 is written (labelling, quarantine and case work never wait on
    S3): the batch is held by a lease (claimed_by, lease_until) taken in a short transaction;
    its rows are read in another, the objects written with none open, and the mark is a third
    that checks, under locks, that the batch still holds exactly what was written. A version
    quarantined meanwhile drops out and the batch is written again under the same key.

    None when another exporter holds the batch or it is already finished.
    """
    token = _lease_take(batch_pk)
    if token is None:
        return None
    try:
        for _ in range(REWRITES):
            batch, entries = _entries_to_write(batch_pk, token)
            client = s3_client()
            if not entries:
                # An earlier attempt may have written it with rows that have since dropped out.
                client.delete_object(Bucket=batch.bucket, Key=batch.object_key)
                client.delete_object(Bucket=batch.bucket, Key=batch.manifest_key)
                marked = _mark_empty(batch_pk, token)
            else:
                etag, manifest = _write_objects(client, batch, entries)
                _fault_after_write(batch)
                marked = _mark_exported(batch_pk, token, entries, etag, manifest)
            if marked is not None:
                return marked
        raise ExportNotConfirmed(
            f"batch {batch_pk}: its labels kept changing while it was written; tried {REWRITES} times"
        )
    except _LeaseLost:
        logger.warning("label batch %s: another exporter took it over; this one stops", batch_pk)
        return None
    finally:
        _lease_release(batch_pk, token)


def labels_export_pending(*, max_batches: int = 1000) -> int:
    """Finish batches left half-written, then export what waits, batch by batch.

    Safe to run concurrently and repeatedly. Returns how many batches this call exported.
    """
    exported = 0
    unfinished = LabelExportBatch.objects.filter(state=LabelExportBatch.State.WRITING)
    for batch_pk in unfinished.order_by("id").values_list("pk", flat=True):
        batch = label_batch_write(batch_pk=batch_pk)
        exported += bool(batch and batch.state == LabelExportBatch.State.EXPORTED)
    for _ in range(max_batches):
        claimed = label_batch_claim()
        if claimed is None:
            break
        batch = label_batch_write(batch_pk=claimed.pk)
        exported += bool(batch and batch.state == LabelExportBatch.State.EXPORTED)
    return exported
