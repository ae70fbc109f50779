"""Label versions, their export to the real embedded S3, and the guards against poisoning.

The exporter runs in-process here (the service itself, not mocked); test_labels_worker.py
runs it through real Celery workers.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from cases.clock import database_now
from cases.errors import ActionNotPermitted, InvalidInput, TransitionNotAllowed
from cases.labels.selectors.backlog import label_export_backlog
from cases.labels.services.export import SimulatedCrash, labels_export_pending
from cases.labels.services.versions import (
    analyst_pseudonym,
    label_batch_quarantine,
    label_review,
    labels_quarantine_analyst,
    labels_release_quarantine,
)
from cases.models import (
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    HoldReason,
    LabelExportBatch,
    LabelOutbox,
    LabelVersion,
    Transaction,
)
from cases.similarity.services import cases_refresh_neighbour_verdict
from cases.tests.label_fixtures import (
    add_tx,
    all_rows,
    axis,
    bucket_keys,
    data_keys,
    make_team,
    read_manifest,
    read_rows,
)
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"^labels/dt=\d{4}-\d{2}-\d{2}/labels-\d{8}T\d{6}Z-\d{10}\.jsonl\.gz$")


@pytest.fixture
def team():
    return make_team()


@pytest.fixture
def retraining(settings, bucket):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    return bucket


def label(actor, tx, value, **kwargs):
    return services.transaction_label(
        actor=actor, transaction_id=tx.transaction_id, label=value, **kwargs
    )


def versions_of(tx) -> list[tuple]:
    return list(
        LabelVersion.objects.filter(transaction=tx)
        .order_by("version")
        .values_list("version", "label", "status", "supersedes__version")
    )


def actions(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- versions and the outbox ------------------------------------------------------------------


def test_a_change_of_label_is_a_new_version_with_its_outbox_row(team):
    analyst, *_, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW)
    tx = case.transactions.order_by("id").first()

    label(analyst, tx, "fraud", reason_codes=["card-compromised"])
    label(analyst, tx, "legitimate")
    label(analyst, tx, "legitimate")  # unchanged: no new version

    assert versions_of(tx) == [(1, "fraud", "pending", None), (2, "legitimate", "pending", 1)]
    first, second = LabelVersion.objects.filter(transaction=tx).order_by("version")
    assert first.reason_codes == ["card-compromised"] and second.reason_codes == []
    assert (first.model_version, first.similarity_score, first.case_id) == ("m1", 0.7, case.pk)
    assert first.analyst_pseudonym == analyst_pseudonym(analyst) != ""
    assert analyst.username not in first.analyst_pseudonym
    assert LabelOutbox.objects.filter(label_version__transaction=tx).count() == 2
    tx.refresh_from_db()
    assert (tx.label, tx.labelled_by) == ("legitimate", analyst)
    labelled = actions(AuditAction.TRANSACTION_LABELLED)
    assert [(e.before, e.after["label"], e.after["version"]) for e in labelled] == [
        ({"label": ""}, "fraud", 1),
        ({"label": "fraud"}, "legitimate", 2),
    ]


def test_unknown_reason_codes_are_refused_and_nothing_is_written(team):
    analyst, *_, queue = team
    tx = make_case(queue, status=CaseStatus.IN_REVIEW).transactions.first()

    with pytest.raises(InvalidInput, match="no-such-code"):
        label(analyst, tx, "fraud", reason_codes=["no-such-code"])

    assert not LabelVersion.objects.exists() and not LabelOutbox.objects.exists()


def test_closing_writes_versions_for_the_resolution_defaults(team):
    analyst, *_, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3)

    services.case_close(
        actor=analyst, case_id=case.pk, resolution="confirmed_fraud",
        reason_codes=["card-compromised"], comment="Card was stolen.",
    )  # fmt: skip

    rows = LabelVersion.objects.filter(case=case).values_list("label", "why", "reason_codes")
    assert list(rows) == [("fraud", "resolution default", ["card-compromised"])] * 3
    assert LabelOutbox.objects.count() == 3


# --- export to S3 -------------------------------------------------------------------------


def test_labels_reach_s3_as_gzipped_jsonl_with_a_manifest_and_lineage(team, s3, retraining):
    analyst, other_analyst, *_, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=2)
    first, second = case.transactions.order_by("id")
    other_tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    label(analyst, first, "fraud", reason_codes=["card-compromised"])
    label(analyst, second, "legitimate")
    label(other_analyst, other_tx, "fraud")
    assert label_export_backlog().pending == 3

    assert labels_export_pending() == 1

    batch = LabelExportBatch.objects.get()
    [key] = data_keys(s3, retraining)
    assert key == batch.object_key and KEY_PATTERN.match(key)
    assert key.startswith(f"labels/dt={batch.created_at:%Y-%m-%d}/")
    assert bucket_keys(s3, retraining) == sorted([key, batch.manifest_key])
    body = s3.get_object(Bucket=retraining, Key=key)["Body"].read()
    manifest = read_manifest(s3, retraining, batch.manifest_key)
    versions = LabelVersion.objects.order_by("id")
    assert manifest == {
        "batch_id": batch.batch_id, "object_key": key, "row_count": 3, "label_rows": 3,
        "retraction_rows": 0, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
        "decided_from": versions[0].decided_at.isoformat(),
        "decided_to": versions[2].decided_at.isoformat(),
        "created_at": batch.created_at.isoformat(), "format": "jsonl.gz", "schema_version": 1,
        "exporter_version": "fraudcase-label-export/1",
    }  # fmt: skip
    rows = read_rows(s3, retraining, key)
    assert [(r["transaction_id"], r["label"], r["analyst_id"]) for r in rows] == [
        (first.transaction_id, "fraud", analyst_pseudonym(analyst)),
        (second.transaction_id, "legitimate", analyst_pseudonym(analyst)),
        (other_tx.transaction_id, "fraud", analyst_pseudonym(other_analyst)),
    ]
    assert rows[0] == {
        "record_type": "label", "transaction_id": first.transaction_id, "label": "fraud",
        "label_version": 1, "supersedes_version": None, "reason_codes": ["card-compromised"],
        "case_reference": case.reference, "analyst_id": analyst_pseudonym(analyst),
        "decided_at": versions[0].decided_at.isoformat(), "why": "analyst", "source": "analyst",
        "model_version": "m1", "similarity_score": 0.7, "detector_outcome": "investigate",
        "neighbour_fraud_share": None, "approved_by": None, "batch_id": batch.batch_id,
        "outbox_id": LabelOutbox.objects.order_by("id")[0].pk,
    }  # fmt: skip
    assert (batch.state, batch.row_count, batch.sha256) == ("exported", 3, manifest["sha256"])
    assert set(versions.values_list("status", flat=True)) == {"exported"}
    backlog = label_export_backlog()
    assert (backlog.pending, backlog.oldest_pending_at) == (0, None)
    [exported] = actions(AuditAction.LABEL_BATCH_EXPORTED)
    assert exported.after["row_count"] == 3 and exported.actor.username == "system"
    assert labels_export_pending() == 0  # nothing left: no second object
    assert len(data_keys(s3, retraining)) == 1


def test_s3_unreachable_keeps_everything_in_the_outbox_then_exports_it(team, s3, settings, bucket):
    analyst, *_, queue = team
    txs = list(make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3).transactions.all())
    for tx in txs:
        label(analyst, tx, "fraud")
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    real_endpoint = settings.FRAUDCASE_S3_ENDPOINT_URL
    settings.FRAUDCASE_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens: refused

    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):
        labels_export_pending()

    backlog = label_export_backlog()
    assert (backlog.pending, backlog.unfinished_batches) == (3, 1)
    assert backlog.oldest_pending_age >= timedelta(0)
    assert set(LabelVersion.objects.values_list("status", flat=True)) == {"pending"}
    settings.FRAUDCASE_S3_ENDPOINT_URL = real_endpoint
    assert labels_export_pending() == 1
    assert sorted(r["transaction_id"] for r in all_rows(s3, bucket)) == sorted(
        tx.transaction_id for tx in txs
    )
    assert label_export_backlog().pending == 0


def test_a_crash_after_the_write_rewrites_the_same_key(team, s3, settings, retraining):
    analyst, *_, queue = team
    s3.put_bucket_versioning(Bucket=retraining, VersioningConfiguration={"Status": "Enabled"})
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    label(analyst, tx, "fraud")
    settings.FRAUDCASE_LABEL_EXPORT_FAULT_AFTER_WRITE = "raise"

    with pytest.raises(SimulatedCrash):
        labels_export_pending()

    batch = LabelExportBatch.objects.get()
    assert batch.state == "writing"  # written, never marked
    [key] = data_keys(s3, retraining)
    assert key == batch.object_key
    settings.FRAUDCASE_LABEL_EXPORT_FAULT_AFTER_WRITE = ""
    assert labels_export_pending() == 1

    batch.refresh_from_db()
    assert batch.state == "exported" and LabelExportBatch.objects.count() == 1
    assert data_keys(s3, retraining) == [key]
    written = s3.list_object_versions(Bucket=retraining, Prefix=key)["Versions"]
    assert len(written) == 2  # the same key, written twice
    assert len({version["ETag"] for version in written}) == 1  # with the same bytes
    assert [r["transaction_id"] for r in all_rows(s3, retraining)] == [tx.transaction_id]


@pytest.mark.django_db(transaction=True)
def test_two_exporters_at_once_write_each_label_once(s3, settings, bucket):
    analyst, *_, queue = make_team()
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    settings.FRAUDCASE_LABEL_EXPORT_BATCH_ROWS = 7
    txs = [
        tx
        for _ in range(2)
        for tx in make_case(queue, status=CaseStatus.IN_REVIEW, transactions=20).transactions.all()
    ]
    for tx in txs:
        label(analyst, tx, "fraud")
    start = threading.Barrier(2)
    results, errors = [], []

    def export():
        try:
            start.wait()
            results.append(labels_export_pending())
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=export) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(results) == LabelExportBatch.objects.filter(state="exported").count() == 6
    exported = [row["transaction_id"] for row in all_rows(s3, bucket)]
    assert sorted(exported) == sorted(tx.transaction_id for tx in txs)  # each exactly once
    assert len(data_keys(s3, bucket)) == 6


# --- four-eyes on flips ---------------------------------------------------------------------


def test_flipping_an_exported_label_is_held_until_another_lead_approves(team, s3, retraining):
    analyst, other_analyst, lead, second_lead, queue = team
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    label(lead, tx, "fraud")
    labels_export_pending()

    label(lead, tx, "legitimate")  # the lead's own flip needs another lead too

    held = LabelVersion.objects.get(version=2)
    assert (held.status, held.hold_reason) == ("held", HoldReason.FLIP_OF_EXPORTED)
    tx.refresh_from_db()
    assert tx.label == "fraud"  # still the exported label
    [event] = actions(AuditAction.LABEL_HELD)
    assert event.after["hold_reason"] == "flip_of_exported"
    assert event.after["exported_label"] == "fraud"
    assert labels_export_pending() == 0  # held: not exported
    with pytest.raises(ActionNotPermitted, match="four-eyes"):
        label_review(actor=lead, version_id=held.pk, approve=True)
    with pytest.raises(ActionNotPermitted, match="release_labels"):
        label_review(actor=other_analyst, version_id=held.pk, approve=True)
    assert LabelVersion.objects.get(pk=held.pk).status == "held"

    label_review(actor=second_lead, version_id=held.pk, approve=True, note="Customer proved it.")

    tx.refresh_from_db()
    assert tx.label == "legitimate"
    [released] = actions(AuditAction.LABEL_RELEASED)
    assert released.actor == second_lead and released.after["note"] == "Customer proved it."
    assert labels_export_pending() == 1
    latest = sorted(all_rows(s3, retraining), key=lambda row: row["outbox_id"])[-1]
    assert (latest["label"], latest["label_version"]) == ("legitimate", 2)
    assert latest["approved_by"] == analyst_pseudonym(second_lead)
    with pytest.raises(TransitionNotAllowed):
        label_review(actor=second_lead, version_id=held.pk, approve=True)


def test_a_rejected_flip_is_never_exported(team, s3, retraining):
    analyst, _, lead, *_ = team
    queue = team[-1]
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    label(analyst, tx, "legitimate")
    labels_export_pending()
    label(analyst, tx, "fraud")
    held = LabelVersion.objects.get(version=2)

    label_review(actor=lead, version_id=held.pk, approve=False, note="No evidence.")

    assert LabelVersion.objects.get(pk=held.pk).status == "rejected"
    tx.refresh_from_db()
    assert tx.label == "legitimate"
    assert labels_export_pending() == 0
    assert [row["label"] for row in all_rows(s3, retraining)] == ["legitimate"]
    assert len(actions(AuditAction.LABEL_REJECTED)) == 1


def test_a_label_not_yet_exported_can_change_without_a_second_person(team):
    analyst, *_, queue = team
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    label(analyst, tx, "fraud")
    label(analyst, tx, "legitimate")
    assert [status for _, _, status, _ in versions_of(tx)] == ["pending", "pending"]


# --- the burst guard ------------------------------------------------------------------------


def test_an_analyst_flipping_50_labels_against_the_model_is_held(team, s3, settings, retraining):
    analyst, other_analyst, lead, _, queue = team
    settings.FRAUDCASE_LABEL_BURST_THRESHOLD = 10
    settings.FRAUDCASE_LABEL_BURST_WINDOW_MINUTES = 60
    # Known legitimate neighbours, one per axis, in another case.
    reference = make_case(queue, status=CaseStatus.CLOSED, transactions=0)
    for index in range(50):
        add_tx(reference, f"ref_{index}", embedding=axis(index), label="legitimate")
    attacked = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    targets = [
        add_tx(attacked, f"target_{i}", embedding=axis(i, towards=100 + i, by=0.1), outcome="approve")
        for i in range(50)
    ]  # fmt: skip
    # The case's neighbour verdict, as the refresh after ingest stores it: what a label records.
    cases_refresh_neighbour_verdict(case_ids=[attacked.pk])

    for tx in targets:  # detector: approve; neighbours: legitimate; analyst: fraud
        label(analyst, tx, "fraud")

    statuses = list(
        LabelVersion.objects.filter(analyst=analyst).order_by("id").values_list("status", flat=True)
    )
    assert statuses == ["pending"] * 9 + ["held"] * 41
    assert LabelVersion.objects.filter(contradicts_model=True).count() == 50
    assert LabelVersion.objects.filter(hold_reason=HoldReason.CONTRADICTION_BURST).count() == 41
    assert len(actions(AuditAction.LABEL_HELD)) == 41
    assert Transaction.objects.filter(case=attacked, label="fraud").count() == 9
    # Another analyst agreeing with the model is not held.
    agreeing = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    fine = add_tx(agreeing, "fine_0", embedding=axis(60, towards=160, by=0.1), outcome="approve")
    label(other_analyst, fine, "legitimate")
    assert LabelVersion.objects.get(transaction=fine).status == "pending"

    labels_export_pending()
    assert len(all_rows(s3, retraining)) == 10  # 9 of the analyst's, 1 of the other's
    assert label_export_backlog().held == 41
    # A lead looks at one and lets it through.
    one = LabelVersion.objects.filter(status="held").first()
    label_review(actor=lead, version_id=one.pk, approve=True)
    assert label_export_backlog().held == 40


def test_labels_agreeing_with_either_signal_do_not_count(team, settings):
    analyst, *_, queue = team
    settings.FRAUDCASE_LABEL_BURST_THRESHOLD = 2
    reference = make_case(queue, status=CaseStatus.CLOSED, transactions=0)
    for index in range(5):
        add_tx(reference, f"ref_{index}", embedding=axis(index), label="fraud")
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    txs = [
        add_tx(case, f"t_{index}", embedding=axis(index, 100 + index, 0.1), outcome="approve")
        for index in range(5)
    ]
    cases_refresh_neighbour_verdict(case_ids=[case.pk])
    assert Case.objects.get(pk=case.pk).neighbour_summary["fraud_share"] == 1.0
    for tx in txs:  # detector approves, neighbours say fraud: fraud agrees with one
        label(analyst, tx, "fraud")
    assert set(LabelVersion.objects.values_list("status", "contradicts_model")) == {
        ("pending", False)
    }


# --- quarantine -----------------------------------------------------------------------------


def test_quarantine_an_analysts_labels_then_release_them(team, s3, retraining):
    analyst, other_analyst, lead, _, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3)
    exported_tx, pending_tx, third_tx = case.transactions.order_by("id")
    others_tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    start = database_now()  # label versions are timed by the database's clock
    label(analyst, exported_tx, "fraud")
    labels_export_pending()
    label(analyst, pending_tx, "fraud")
    label(analyst, third_tx, "legitimate")
    label(other_analyst, others_tx, "fraud")
    end = database_now() + timedelta(seconds=1)

    with pytest.raises(ActionNotPermitted):
        labels_quarantine_analyst(
            actor=other_analyst, analyst_id=analyst.pk, start=start, end=end, reason="x"
        )
    quarantined = labels_quarantine_analyst(
        actor=lead, analyst_id=analyst.pk, start=start, end=end, reason="Account compromised"
    )

    assert quarantined == 3
    assert set(LabelVersion.objects.filter(analyst=analyst).values_list("status", flat=True)) == {
        "quarantined"
    }
    assert set(Transaction.objects.filter(case=case).values_list("label", flat=True)) == {""}
    events = actions(AuditAction.LABEL_QUARANTINED)
    assert len(events) == 3 and {e.after["reason"] for e in events} == {"Account compromised"}
    assert [e.after["retracted"] for e in events] == [True, False, False]
    labels_export_pending()
    rows = sorted(all_rows(s3, retraining), key=lambda row: row["outbox_id"])
    assert [(r["record_type"], r["transaction_id"]) for r in rows] == [
        ("label", exported_tx.transaction_id),
        ("label", others_tx.transaction_id),  # the other analyst's label went out
        ("retraction", exported_tx.transaction_id),
    ]
    assert training_set(since="2026-01-01") == {others_tx.transaction_id: "fraud"}

    released = labels_release_quarantine(
        actor=lead, analyst_id=analyst.pk, start=start, end=end, reason="Cleared by security"
    )

    assert released == 3
    assert len(actions(AuditAction.LABEL_QUARANTINE_RELEASED)) == 3
    assert Transaction.objects.get(pk=exported_tx.pk).label == "fraud"
    labels_export_pending()
    assert training_set(since="2026-01-01") == {
        exported_tx.transaction_id: "fraud",
        pending_tx.transaction_id: "fraud",
        third_tx.transaction_id: "legitimate",
        others_tx.transaction_id: "fraud",
    }
    assert label_export_backlog().pending == 0


def test_quarantine_a_whole_batch(team, s3, retraining):
    analyst, _, lead, _, queue = team
    txs = list(make_case(queue, status=CaseStatus.IN_REVIEW, transactions=2).transactions.all())
    for tx in txs:
        label(analyst, tx, "fraud")
    labels_export_pending()
    batch = LabelExportBatch.objects.get()

    with pytest.raises(InvalidInput):
        label_batch_quarantine(actor=lead, batch_id=batch.batch_id, reason=" ")
    assert label_batch_quarantine(actor=lead, batch_id=batch.batch_id, reason="Bad import") == 2

    assert set(LabelVersion.objects.values_list("status", flat=True)) == {"quarantined"}
    assert LabelExportBatch.objects.get().quarantined_at is not None
    labels_export_pending()
    assert training_set(since="2026-01-01") == {}
    assert labels_release_quarantine(actor=lead, batch_id=batch.batch_id, reason="Fine") == 2
    labels_export_pending()
    assert training_set(since="2026-01-01") == {tx.transaction_id: "fraud" for tx in txs}


# --- export_training_set --------------------------------------------------------------------


def training_set(*, since: str, **options) -> dict[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_training_set", since=since, no_progress=True, stdout=out, stderr=err)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    return {row["transaction_id"]: row["label"] for row in rows}


def test_export_training_set_latest_version_wins(team, s3, retraining, tmp_path):
    analyst, _, lead, _, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3)
    flipped, changed_before_export, once = case.transactions.order_by("id")
    label(analyst, flipped, "fraud")
    label(analyst, changed_before_export, "fraud")
    label(analyst, changed_before_export, "legitimate")
    label(analyst, once, "legitimate")
    labels_export_pending()
    label(analyst, flipped, "legitimate")
    label_review(actor=lead, version_id=LabelVersion.objects.get(status="held").pk, approve=True)
    labels_export_pending()
    output = tmp_path / "training.jsonl.gz"

    err = io.StringIO()
    call_command("export_training_set", since="2026-01-01", output=str(output), stderr=err)

    import gzip

    rows = [json.loads(line) for line in gzip.decompress(output.read_bytes()).splitlines()]
    assert [(r["transaction_id"], r["label"], r["label_version"]) for r in rows] == [
        (flipped.transaction_id, "legitimate", 2),
        (changed_before_export.transaction_id, "legitimate", 2),
        (once.transaction_id, "legitimate", 1),
    ]
    assert rows[0]["case_reference"] == case.reference
    assert rows[0]["analyst_id"] == analyst_pseudonym(analyst)
    assert "3 transaction(s) from 5 exported row(s) in 2 batch(es)" in err.getvalue()
    # Only labels decided since the date count.
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert training_set(since=tomorrow) == {}


def test_export_training_set_refuses_a_corrupted_batch(team, s3, retraining):
    analyst, *_, queue = team
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    label(analyst, tx, "fraud")
    labels_export_pending()
    batch = LabelExportBatch.objects.get()
    s3.put_object(Bucket=retraining, Key=batch.object_key, Body=b"tampered")

    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="sha256"):
        training_set(since="2026-01-01")


def test_quarantine_and_release_do_not_step_around_four_eyes(team, s3, retraining):
    analyst, _, lead, _, queue = team
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    start = database_now()
    label(lead, tx, "fraud")
    labels_export_pending()
    label(lead, tx, "legitimate")  # held: four-eyes
    end = database_now() + timedelta(seconds=1)
    scope = {"analyst_id": lead.pk, "start": start, "end": end}
    labels_quarantine_analyst(actor=lead, reason="checking", **scope)

    labels_release_quarantine(actor=lead, reason="checked", **scope)

    assert versions_of(tx) == [(1, "fraud", "pending", None), (2, "legitimate", "held", 1)]
    tx.refresh_from_db()
    assert tx.label == "fraud"
    labels_export_pending()
    assert training_set(since="2026-01-01") == {tx.transaction_id: "fraud"}
    with pytest.raises(ActionNotPermitted, match="four-eyes"):
        label_review(actor=lead, version_id=LabelVersion.objects.get(version=2).pk, approve=True)


def test_beat_sweeps_the_outbox_every_minute_with_a_registered_task():
    from django.conf import settings

    import cases.labels.tasks  # noqa: F401 - registers the tasks, as the worker does
    from fraudcase.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["export-labels"]
    assert entry["schedule"] == 60.0
    assert entry["task"] in app.tasks
