"""Export label versions from the outbox to the retraining bucket, exactly once per batch.

1. Claim: outbox rows ready to go (FOR UPDATE SKIP LOCKED, so concurrent exporters never
   share one) are tied to a new LabelExportBatch whose id and object key are fixed there and
   then, in one committed transaction.
2. Write: under a lock on the batch row, the rows are rendered deterministically (gzip with
   no timestamp), written with Content-MD5, checked against the returned ETag and a HEAD,
   then the manifest likewise; only then is the batch marked exported, in the same
   transaction as its label versions. A crash anywhere before that commit leaves the batch
   "writing": the next run writes the same key again (rows that were quarantined meanwhile
   drop out), so the dataset never holds a second copy.

S3 errors propagate: the Celery task retries with backoff and the outbox keeps every row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os

from django.conf import settings
from django.db import transaction

from cases.audit.trail import audit_record, system_actor
from cases.clock import database_now
from cases.fileformats import encode_rows
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


def label_batch_write(*, batch_pk: int) -> LabelExportBatch | None:
    """Write one claimed batch and mark it exported once S3 confirmed; idempotent.

    None when another exporter holds the batch or it is already finished.
    """
    with transaction.atomic():
        batch = (
            LabelExportBatch.objects.select_for_update(skip_locked=True)
            .filter(pk=batch_pk, state=LabelExportBatch.State.WRITING)
            .first()
        )
        if batch is None:
            return None
        entries = list(
            batch.entries.select_related(
                "label_version__transaction", "label_version__case", "label_version__reviewed_by"
            ).order_by("id")
        )
        versions = {
            version.pk: version
            for version in LabelVersion.objects.select_for_update()
            .filter(pk__in={entry.label_version_id for entry in entries})
            .order_by("id")  # the house order (cases.locking)
        }
        # Held or quarantined since the claim: out of this batch, back to waiting (or not).
        dropped = [
            entry.pk
            for entry in entries
            if entry.action == LabelExportAction.EXPORT
            and versions[entry.label_version_id].status != LabelStatus.PENDING
        ]
        if dropped:
            LabelOutbox.objects.filter(pk__in=dropped).update(batch=None)
        entries = [entry for entry in entries if entry.pk not in dropped]
        client = s3_client()
        if not entries:
            # An earlier attempt may have written it with rows that have since dropped out.
            client.delete_object(Bucket=batch.bucket, Key=batch.object_key)
            client.delete_object(Bucket=batch.bucket, Key=batch.manifest_key)
            batch.state = LabelExportBatch.State.EMPTY
            batch.save(update_fields=["state"])
            return batch
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
        _fault_after_write(batch)
        now = database_now()
        batch.state, batch.exported_at, batch.etag = LabelExportBatch.State.EXPORTED, now, etag
        batch.row_count, batch.sha256 = manifest["row_count"], manifest["sha256"]
        batch.decided_from = min(versions[e.label_version_id].decided_at for e in entries)
        batch.decided_to = max(versions[e.label_version_id].decided_at for e in entries)
        batch.save(
            update_fields=[
                "state", "exported_at", "etag", "row_count", "sha256", "decided_from", "decided_to",
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
