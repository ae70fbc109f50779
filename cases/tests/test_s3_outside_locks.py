"""No S3 call while row locks are held: a label batch and an attachment are written to S3 with
no case, transaction or label row locked, so analysts never wait on S3.

While each PutObject is on its way (a botocore before-send hook on boto3's default session,
which every client the services create copies), a second database connection of the test's
own tries to lock the same rows, as a service would, with a short lock_timeout. The services,
the database and the S3 server are the real ones.
"""

from __future__ import annotations

from datetime import timedelta

import boto3
import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from cases.errors import StaleVersion
from cases.labels.services.export import labels_export_pending
from cases.labels.services.versions import labels_quarantine_analyst
from cases.models import (
    Attachment,
    AuditAction,
    AuditEvent,
    CaseStatus,
    LabelExportBatch,
    LabelVersion,
)
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.label_fixtures import all_rows, data_keys, make_team
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services

pytestmark = pytest.mark.django_db(transaction=True)  # rows committed: another connection sees them


def lock_from_another_connection(rows: dict[str, list[int]]) -> str:
    """Lock these rows (table -> ids) FOR NO KEY UPDATE, as the services do, from a connection
    of its own within 300 ms; "" when it got them all, else the database's refusal."""
    try:
        with psycopg.connect(**connection.get_connection_params()) as other:
            other.execute("SET lock_timeout = '300ms'")
            with other.transaction():
                for table, ids in rows.items():
                    other.execute(
                        f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",  # noqa: S608
                        [ids],
                    )
        return ""
    except psycopg.errors.LockNotAvailable as error:
        return str(error).splitlines()[0]


class WhileS3Writes:
    """Runs a probe each time a PutObject is about to be sent (before-send)."""

    def __init__(self) -> None:
        self.events = boto3._get_default_session().events
        self.registered = []

    def on_put(self, probe) -> None:
        def hook(**_):
            probe()

        self.events.register("before-send.s3.PutObject", hook)
        self.registered.append(hook)

    def close(self) -> None:
        for hook in self.registered:
            self.events.unregister("before-send.s3.PutObject", hook)


@pytest.fixture
def while_s3_writes():
    hooks = WhileS3Writes()
    yield hooks
    hooks.close()


def test_a_label_batch_is_written_to_s3_with_no_case_transaction_or_label_locked(
    s3, bucket, settings, while_s3_writes
):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    analyst, *_, queue = make_team()
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3)
    txs = list(case.transactions.order_by("id"))
    for tx in txs:
        services.transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="fraud")
    rows = {
        "cases_case": [case.pk],
        "cases_transaction": [tx.pk for tx in txs],
        "cases_labelversion": list(LabelVersion.objects.values_list("pk", flat=True)),
    }
    refusals = []
    while_s3_writes.on_put(lambda: refusals.append(lock_from_another_connection(rows)))

    assert labels_export_pending() == 1

    assert refusals == ["", ""]  # the batch and its manifest: nothing was held either time
    batch = LabelExportBatch.objects.get()
    assert (batch.state, batch.row_count, batch.claimed_by) == ("exported", 3, "")
    assert set(LabelVersion.objects.values_list("status", flat=True)) == {"exported"}
    assert sorted(row["transaction_id"] for row in all_rows(s3, bucket)) == sorted(
        tx.transaction_id for tx in txs
    )


def test_a_label_quarantined_while_its_batch_is_written_is_left_out_of_it(
    s3, bucket, settings, while_s3_writes
):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    analyst, other_analyst, lead, _, queue = make_team()
    txs = list(make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3).transactions.all())
    for tx, who in zip(txs, (analyst, analyst, other_analyst), strict=True):
        services.transaction_label(actor=who, transaction_id=tx.transaction_id, label="fraud")
    now = timezone.now()
    quarantined = []

    def quarantine_once():  # a lead acts while the first write is on its way
        if not quarantined:
            quarantined.append(
                labels_quarantine_analyst(
                    actor=lead,
                    analyst_id=other_analyst.pk,
                    start=now - timedelta(hours=1),
                    end=now + timedelta(hours=1),
                    reason="bulk labels without review",
                )  # fmt: skip
            )

    while_s3_writes.on_put(quarantine_once)

    assert labels_export_pending() == 1

    assert quarantined == [1]
    batch = LabelExportBatch.objects.get()
    assert (batch.state, batch.row_count) == ("exported", 2)
    assert data_keys(s3, bucket) == [batch.object_key]  # the same key, written again
    assert sorted(row["transaction_id"] for row in all_rows(s3, bucket)) == sorted(
        tx.transaction_id for tx in txs[:2]
    )
    statuses = dict(LabelVersion.objects.values_list("transaction_id", "status"))
    assert statuses == {txs[0].pk: "exported", txs[1].pk: "exported", txs[2].pk: "quarantined"}
    assert LabelVersion.objects.get(transaction=txs[2]).first_exported_at is None


@pytest.fixture
def attach_case(settings, bucket):
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    analyst, *_, queue = make_team()
    return analyst, make_case(queue, status=CaseStatus.IN_REVIEW)


def stored_keys(s3, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_an_attachment_is_stored_in_s3_with_its_case_unlocked(
    s3, bucket, attach_case, while_s3_writes
):
    analyst, case = attach_case
    refusals = []
    while_s3_writes.on_put(
        lambda: refusals.append(lock_from_another_connection({"cases_case": [case.pk]}))
    )

    attachment = services.case_attach_file(
        actor=analyst, case_id=case.pk, filename="call notes.txt", content=b"the customer said"
    )

    assert refusals == [""]
    assert stored_keys(s3, bucket) == [attachment.s3_key]
    assert AuditEvent.objects.filter(action=AuditAction.ATTACHMENT_ADDED).count() == 1


def test_an_attachment_whose_case_changed_during_the_upload_is_refused_and_its_object_deleted(
    s3, bucket, attach_case, while_s3_writes
):
    analyst, case = attach_case
    # Someone tags the case while the file is on its way to S3 (before, they waited on its lock).
    while_s3_writes.on_put(
        lambda: services.case_set_tags(actor=analyst, case_id=case.pk, add=["mule"])
    )
    with pytest.raises(StaleVersion):
        services.case_attach_file(
            actor=analyst, case_id=case.pk, filename="notes.txt", content=b"hello",
            expected_version=case.version,
        )  # fmt: skip

    assert not Attachment.objects.exists()
    assert stored_keys(s3, bucket) == []  # nothing half-written: the object was deleted again
    refusal = AuditEvent.objects.get(action=AuditAction.REFUSED)
    assert refusal.after["attempted"] == "case_attach_file"
    assert refusal.after["error"] == "stale_version"


def test_an_api_upload_is_stored_with_its_case_unlocked_and_a_refused_one_leaves_nothing(
    s3, bucket, attach_case, while_s3_writes
):
    analyst, case = attach_case
    client = token_client(analyst)
    url = f"/api/v1/cases/{case.reference}/attachments/"
    etag = client.get(f"/api/v1/cases/{case.reference}/")["ETag"]
    refusals = []
    while_s3_writes.on_put(
        lambda: refusals.append(lock_from_another_connection({"cases_case": [case.pk]}))
    )

    created = client.post(
        url, {"file": SimpleUploadedFile("notes.txt", b"hello")},
        HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="upload-1",
    )  # fmt: skip
    stale = client.post(url, {"file": SimpleUploadedFile("more.txt", b"again")}, HTTP_IF_MATCH=etag)

    assert created.status_code == 201, created.content
    assert refusals == ["", ""]  # both uploads: the case was never locked during the write
    assert_problem(stale, 412, "stale_version")
    [attachment] = Attachment.objects.all()
    assert stored_keys(s3, bucket) == [attachment.s3_key]  # the refused one was deleted again


def test_the_export_lease_outlasts_the_export_tasks_hard_time_limit(settings):
    """A lease that ran out has a dead holder: a worker past the hard limit was killed."""
    from cases.labels.tasks import export_labels, sweep_label_exports

    longest = max(export_labels.time_limit, sweep_label_exports.time_limit)
    assert longest < settings.FRAUDCASE_LABEL_EXPORT_LEASE_SECONDS
