"""A label batch is marked exported only after S3 confirmed the object it was sent.

The exporter writes with put_object, then compares the returned ETag and a HEAD against what it
wrote. The faults are injected at the client boundary: a botocore after-call hook on boto3's
default session (which every client the exporter creates copies) rewrites what the real
embedded S3 server answered, as a proxy or a misbehaving store would. Nothing of FraudCase is
replaced: the exporter, the database and the S3 server are the real ones.
"""

from __future__ import annotations

import boto3
import pytest

from cases.labels.selectors.backlog import label_export_backlog
from cases.labels.services.export import ExportNotConfirmed, labels_export_pending
from cases.models import (
    AuditAction,
    AuditEvent,
    CaseStatus,
    LabelExportBatch,
    LabelOutbox,
    LabelVersion,
    WebhookEvent,
)
from cases.tests.label_fixtures import all_rows, data_keys, make_team
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def retraining(settings, bucket):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    return bucket


class S3Answers:
    """after-call hooks that alter what S3 answered, for every client made while registered."""

    def __init__(self) -> None:
        self.events = boto3._get_default_session().events
        self.registered: list[tuple[str, object]] = []

    def alter(self, operation: str, change) -> None:
        def hook(parsed, **_):
            change(parsed)

        event_name = f"after-call.s3.{operation}"
        self.events.register(event_name, hook)
        self.registered.append((event_name, hook))

    def restore(self) -> None:
        while self.registered:
            event_name, hook = self.registered.pop()
            self.events.unregister(event_name, hook)


@pytest.fixture
def s3_answers():
    answers = S3Answers()
    yield answers
    answers.restore()


def labelled_transactions(count: int = 3) -> list:
    analyst, *_, queue = make_team()
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=count)
    txs = list(case.transactions.order_by("transaction_id"))
    for tx in txs:
        services.transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="fraud")
    return txs


def assert_nothing_marked(batch: LabelExportBatch, outbox_ids: list[int]) -> None:
    batch.refresh_from_db()
    assert (batch.state, batch.exported_at, batch.etag, batch.row_count) == ("writing", None, "", 0)
    # The outbox keeps every row, still tied to the unconfirmed batch for the next run.
    assert (
        sorted(LabelOutbox.objects.filter(batch=batch).values_list("id", flat=True)) == outbox_ids
    )
    assert set(LabelVersion.objects.values_list("status", flat=True)) == {"pending"}
    assert not LabelVersion.objects.filter(first_exported_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.LABEL_BATCH_EXPORTED).exists()
    assert not WebhookEvent.objects.filter(type="label.exported").exists()
    assert label_export_backlog().unfinished_batches == 1


def make_etag_wrong(parsed: dict) -> None:
    parsed["ETag"] = '"' + "0" * 32 + '"'


def make_length_short(parsed: dict) -> None:
    parsed["ContentLength"] = parsed["ContentLength"] - 1


FAULTS = {
    # S3 kept other bytes than were sent: the PUT's ETag and the HEAD agree, on the wrong MD5.
    "stored etag differs": [("PutObject", make_etag_wrong), ("HeadObject", make_etag_wrong)],
    # The PUT's answer disagrees with the object the HEAD then finds.
    "put etag differs": [("PutObject", make_etag_wrong)],
    # The HEAD finds an object of another length at the key.
    "head length differs": [("HeadObject", make_length_short)],
    # The HEAD finds another object at the key than the PUT wrote (overwritten meanwhile).
    "head etag differs": [("HeadObject", make_etag_wrong)],
}


@pytest.mark.parametrize("fault", FAULTS)
def test_an_unconfirmed_write_leaves_the_batch_unmarked_with_its_outbox_rows(
    fault, s3, retraining, s3_answers
):
    labelled_transactions()
    outbox_ids = sorted(LabelOutbox.objects.values_list("id", flat=True))
    for operation, change in FAULTS[fault]:
        s3_answers.alter(operation, change)

    with pytest.raises(ExportNotConfirmed):
        labels_export_pending()

    batch = LabelExportBatch.objects.get()
    assert_nothing_marked(batch, outbox_ids)
    assert data_keys(s3, retraining) == [batch.object_key]  # written, not believed

    # Still unconfirmed on the next run while S3 keeps answering wrong: no second batch.
    with pytest.raises(ExportNotConfirmed):
        labels_export_pending()
    assert LabelExportBatch.objects.get().pk == batch.pk
    assert_nothing_marked(batch, outbox_ids)


@pytest.mark.parametrize("fault", FAULTS)
def test_the_run_after_the_fault_confirms_and_marks_the_same_batch(
    fault, s3, retraining, s3_answers
):
    txs = labelled_transactions()
    for operation, change in FAULTS[fault]:
        s3_answers.alter(operation, change)
    with pytest.raises(ExportNotConfirmed):
        labels_export_pending()
    batch = LabelExportBatch.objects.get()

    s3_answers.restore()
    assert labels_export_pending() == 1

    batch.refresh_from_db()
    assert batch.state == "exported" and batch.row_count == 3 and batch.etag
    assert LabelExportBatch.objects.count() == 1
    assert data_keys(s3, retraining) == [batch.object_key]  # the same key, once
    assert sorted(r["transaction_id"] for r in all_rows(s3, retraining)) == [
        tx.transaction_id for tx in txs
    ]
    assert set(LabelVersion.objects.values_list("status", flat=True)) == {"exported"}
    [event] = AuditEvent.objects.filter(action=AuditAction.LABEL_BATCH_EXPORTED)
    assert event.object_id == str(batch.pk) and event.after["row_count"] == 3
    assert label_export_backlog().pending == 0
