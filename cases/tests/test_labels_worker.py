"""Label export through real Celery workers, the real broker and real S3 servers.

Covers the outage (an S3 server of the test's own, stopped then started again), concurrent
exporters, and a worker process that dies between the S3 write and the mark.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket

import boto3
import pytest
from botocore.config import Config
from django.conf import settings
from django.core.management import call_command

from cases.labels.selectors.backlog import label_export_backlog
from cases.models import CaseStatus, LabelExportBatch, LabelVersion
from cases.tests.label_fixtures import all_rows, data_keys, make_team, read_manifest
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services
from conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def label_all(actor, txs, value="fraud"):
    for tx in txs:
        services.transaction_label(actor=actor, transaction_id=tx.transaction_id, label=value)


def exported_everything() -> bool:
    backlog = label_export_backlog()
    return backlog.pending == 0 and LabelExportBatch.objects.filter(state="exported").exists()


def test_a_label_reaches_s3_through_a_worker_with_a_correct_manifest(
    s3, bucket, celery_worker_factory
):
    analyst, *_, queue = make_team()
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    worker = celery_worker_factory(FRAUDCASE_RETRAINING_BUCKET=bucket)

    label_all(analyst, [tx])  # queues the export when the label commits

    wait_until(
        exported_everything, timeout=60,
        message=lambda: f"the label to be exported; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    batch = LabelExportBatch.objects.get()
    version = LabelVersion.objects.get()
    body = s3.get_object(Bucket=bucket, Key=batch.object_key)["Body"].read()
    manifest = read_manifest(s3, bucket, batch.manifest_key)
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest() == batch.sha256
    assert (manifest["row_count"], manifest["batch_id"]) == (1, batch.batch_id)
    assert manifest["decided_from"] == manifest["decided_to"] == version.decided_at.isoformat()
    [row] = all_rows(s3, bucket)
    assert (row["transaction_id"], row["label"], row["case_reference"]) == (
        tx.transaction_id, "fraud", tx.case.reference,
    )  # fmt: skip
    assert version.status == "exported"


def queued_messages() -> int:
    """Messages waiting in the default Celery queue on the test broker (a Redis list)."""
    from fraudcase.celery import app

    with app.connection_for_write() as connection:
        return connection.default_channel.client.llen("celery")


def test_labelling_50_transactions_queues_one_export_task_which_exports_them_all(
    s3, bucket, celery_worker_factory
):
    analyst, *_, queue = make_team()
    txs = [
        tx
        for _ in range(5)
        for tx in make_case(queue, status=CaseStatus.IN_REVIEW, transactions=10).transactions.all()
    ]
    later = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    assert queued_messages() == 0  # the factory purged the queue

    label_all(analyst, txs)  # 50 saves, 50 commits, no worker yet

    assert queued_messages() == 1  # coalesced: the first save's task exports the rest too
    worker = celery_worker_factory(FRAUDCASE_RETRAINING_BUCKET=bucket)
    wait_until(
        exported_everything, timeout=90,
        message=lambda: f"the labels to be exported; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert sorted(row["transaction_id"] for row in all_rows(s3, bucket)) == sorted(
        tx.transaction_id for tx in txs
    )
    assert worker.log().count("export_labels[") >= 1
    # The task started: the next label queues a task of its own again, and it is exported.
    label_all(analyst, [later])
    wait_until(
        lambda: LabelVersion.objects.get(transaction=later).status == "exported", timeout=60,
        message=lambda: f"the second label to be exported; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert queued_messages() == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_server(port: int):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def test_s3_stopped_then_restarted_nothing_is_lost(celery_worker_factory):
    analyst, *_, queue = make_team()
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = _moto_server(port)
    outage_s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x", config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    outage_s3.create_bucket(Bucket="retraining-outage")
    server.stop()
    worker = celery_worker_factory(
        FRAUDCASE_S3_ENDPOINT_URL=endpoint, FRAUDCASE_RETRAINING_BUCKET="retraining-outage",
        FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF="1", FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF_MAX="2",
    )  # fmt: skip
    txs = list(make_case(queue, status=CaseStatus.IN_REVIEW, transactions=5).transactions.all())
    try:
        label_all(analyst, txs)

        wait_until(
            lambda: "Retry in" in worker.log(), timeout=90,
            message=lambda: f"the export to be retried; worker log:\n{worker.log()[-3000:]}",
        )  # fmt: skip
        backlog = label_export_backlog()
        assert backlog.pending == 5 and backlog.oldest_pending_at is not None
        assert not LabelExportBatch.objects.filter(state="exported").exists()
        server = _moto_server(port)  # S3 is back

        wait_until(
            exported_everything, timeout=120,
            message=lambda: f"the backlog to drain; worker log:\n{worker.log()[-3000:]}",
        )  # fmt: skip
        rows = all_rows(outage_s3, "retraining-outage")
        assert sorted(row["transaction_id"] for row in rows) == sorted(
            tx.transaction_id for tx in txs
        )
        assert set(LabelVersion.objects.values_list("status", flat=True)) == {"exported"}
    finally:
        server.stop()


def test_the_export_task_run_twice_at_once_produces_one_copy(s3, bucket, celery_worker_factory):
    analyst, *_, queue = make_team()
    txs = [
        tx
        for _ in range(2)
        for tx in make_case(queue, status=CaseStatus.IN_REVIEW, transactions=15).transactions.all()
    ]
    label_all(analyst, txs)  # 30 export tasks wait on the broker for the workers below
    worker_env = {"FRAUDCASE_RETRAINING_BUCKET": bucket, "FRAUDCASE_LABEL_EXPORT_BATCH_ROWS": "4"}
    workers = [celery_worker_factory(**worker_env) for _ in range(2)]
    from cases.labels.tasks import export_labels, sweep_label_exports

    export_labels.delay()
    sweep_label_exports.delay()

    wait_until(
        lambda: (
            exported_everything() and LabelExportBatch.objects.filter(state="exported").count() == 8
        ),
        timeout=120,
        message=lambda: "\n".join(worker.log()[-2000:] for worker in workers),
    )
    rows = all_rows(s3, bucket)
    assert sorted(row["transaction_id"] for row in rows) == sorted(tx.transaction_id for tx in txs)
    assert len(data_keys(s3, bucket)) == 8
    assert not LabelExportBatch.objects.exclude(state="exported").exists()


def test_a_worker_dying_after_the_write_leads_to_a_rewrite_of_the_same_key(
    s3, bucket, celery_worker_factory
):
    analyst, *_, queue = make_team()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    txs = list(make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3).transactions.all())
    worker_env = {
        "FRAUDCASE_RETRAINING_BUCKET": bucket,
        "CELERY_VISIBILITY_TIMEOUT": "4",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    }
    label_all(analyst, txs)  # all three wait in the outbox before a worker starts

    dying = celery_worker_factory(FRAUDCASE_LABEL_EXPORT_FAULT_AFTER_WRITE="exit", **worker_env)

    wait_until(
        lambda: dying.process.poll() is not None, timeout=60,
        message=lambda: f"the worker to die after the write; log:\n{dying.log()[-3000:]}",
    )  # fmt: skip
    batch = LabelExportBatch.objects.get()
    assert batch.state == "writing"
    assert data_keys(s3, bucket) == [batch.object_key]  # written, never marked
    survivor = celery_worker_factory(**worker_env)

    wait_until(
        exported_everything, timeout=90,
        message=lambda: f"the batch to be rewritten; log:\n{survivor.log()[-3000:]}",
    )  # fmt: skip
    batch.refresh_from_db()
    assert batch.state == "exported" and LabelExportBatch.objects.count() == 1
    assert data_keys(s3, bucket) == [batch.object_key]
    written = s3.list_object_versions(Bucket=bucket, Prefix=batch.object_key)["Versions"]
    assert len(written) == 2 and len({version["ETag"] for version in written}) == 1
    assert sorted(row["transaction_id"] for row in all_rows(s3, bucket)) == sorted(
        tx.transaction_id for tx in txs
    )
    assert settings.FRAUDCASE_LABEL_EXPORT_FAULT_AFTER_WRITE == ""  # the test process's own


def test_a_held_flip_waits_for_a_lead_then_the_worker_exports_it(
    s3, bucket, settings, celery_worker_factory
):
    analyst, _, lead, _, queue = make_team()
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket  # for export_training_set in this process
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    worker = celery_worker_factory(FRAUDCASE_RETRAINING_BUCKET=bucket)
    label_all(analyst, [tx], "fraud")
    wait_until(exported_everything, timeout=60, message=lambda: worker.log()[-3000:])

    label_all(analyst, [tx], "legitimate")  # a flip of an exported label: held
    held = LabelVersion.objects.get(version=2)
    assert held.status == "held"
    from cases.labels.services.versions import label_review
    from cases.labels.tasks import sweep_label_exports

    sweep_label_exports.delay()
    swept = re.compile(r"sweep_label_exports\[[^\]]+\] succeeded")
    wait_until(lambda: swept.search(worker.log()), timeout=30, message=lambda: worker.log()[-3000:])
    assert [row["label"] for row in all_rows(s3, bucket)] == ["fraud"]  # the flip stayed home
    label_review(actor=lead, version_id=held.pk, approve=True)

    wait_until(
        lambda: LabelVersion.objects.get(pk=held.pk).status == "exported", timeout=60,
        message=lambda: worker.log()[-3000:],
    )  # fmt: skip
    out = io.StringIO()
    call_command("export_training_set", since="2026-01-01", no_progress=True, stdout=out)
    [row] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (row["transaction_id"], row["label"], row["label_version"]) == (
        tx.transaction_id, "legitimate", 2,
    )  # fmt: skip
