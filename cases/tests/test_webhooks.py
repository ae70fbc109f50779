"""Webhooks: events recorded with the change, signed POSTs to a real HTTP receiver (conftest's
`receiver`), retries, order per case, and the admin's redeliver. Delivery is called directly
here; test_webhooks_worker.py sends through a real Celery worker."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cases.audit.trail import system_actor
from cases.errors import ActionNotPermitted
from cases.fileformats import encode_rows
from cases.ingest.services import inbox_scan, ingest_run_execute
from cases.labels.services.export import labels_export_pending
from cases.models import (
    AuditAction,
    AuditEvent,
    Case,
    LabelExportBatch,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from cases.tests.label_fixtures import make_team
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.webhooks import signing
from cases.webhooks.delivery import webhook_deliveries_send_due
from cases.webhooks.services import webhook_deliveries_redeliver
from cases.workflow import services
from conftest import client_for, contract_row, put_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    analyst = make_user("ana", "analyst")
    lead = make_user("lea", "lead")
    return analyst, lead, make_queue("General", analyst, is_default=True)


def subscribe(url: str, *types: str, active: bool = True) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        name=f"hook {url} {types}", url=url, event_types=list(types), active=active
    )


def later(seconds: int):
    return timezone.now() + timedelta(seconds=seconds)


def test_an_assigned_case_reaches_the_receiver_signed(
    team, receiver, django_capture_on_commit_callbacks
):
    analyst, lead, queue = team
    server = receiver(200)
    subscription = subscribe(server.url, "case.assigned")
    case = make_case(queue)

    with django_capture_on_commit_callbacks() as queued:
        services.case_assign(actor=lead, case_id=case.pk, assignee_id=analyst.pk)
    assert len(queued) == 1  # the delivery task, once the assignment commits
    assert webhook_deliveries_send_due() == 1

    [(headers, body)] = server.requests
    event = WebhookEvent.objects.get()
    assert json.loads(body) == {
        "id": str(event.event_id),
        "type": "case.assigned",
        "occurred_at": event.created_at.isoformat(),
        "data": {
            "case_id": case.pk,
            "case_reference": case.reference,
            "assignee": "ana",
            "version": 2,
        },
    }
    assert headers["X-FraudCase-Event-Id"] == str(event.event_id)
    assert headers["X-FraudCase-Signature"].startswith("v1=")
    timestamp = signing.verify(subscription.secret, headers, body)
    assert abs(timestamp - time.time()) < 30
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(subscription.secret, headers, body.replace(b'"ana"', b'"eve"'))
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("another-secret", headers, body)
    with pytest.raises(signing.SignatureError, match="replay"):
        signing.verify(subscription.secret, headers, body, now=timestamp + 301)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.claimed_until is None


def test_a_receiver_answering_500_gets_the_same_event_again_after_the_backoff(team, receiver):
    analyst, lead, queue = team
    server = receiver(500, 200)
    subscribe(server.url, "case.assigned")
    services.case_assign(actor=lead, case_id=make_case(queue).pk, assignee_id=analyst.pk)

    assert webhook_deliveries_send_due() == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert "HTTP 500" in delivery.last_error
    assert later(25) < delivery.next_attempt_at < later(35)  # FRAUDCASE_WEBHOOK_RETRY_BACKOFF
    assert webhook_deliveries_send_due() == 0 and len(server.requests) == 1  # not yet due

    assert webhook_deliveries_send_due(now=later(40)) == 1
    first, second = server.requests
    assert first[0]["X-FraudCase-Event-Id"] == second[0]["X-FraudCase-Event-Id"]
    assert json.loads(first[1])["id"] == json.loads(second[1])["id"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)


def test_attempts_spent_or_an_unreachable_receiver_end_as_failed(team, receiver, settings):
    settings.FRAUDCASE_WEBHOOK_MAX_ATTEMPTS = 2
    analyst, lead, queue = team
    server = receiver(500, 502)
    answering = subscribe(server.url, "case.assigned")
    subscribe("http://127.0.0.1:9/nobody-listens", "case.assigned")
    services.case_assign(actor=lead, case_id=make_case(queue).pk, assignee_id=analyst.pk)

    webhook_deliveries_send_due()
    webhook_deliveries_send_due(now=later(3600))

    answered = WebhookDelivery.objects.get(subscription=answering)
    unreachable = WebhookDelivery.objects.exclude(subscription=answering).get()
    assert (answered.status, answered.attempts, answered.last_status_code) == ("failed", 2, 502)
    assert (unreachable.status, unreachable.attempts, unreachable.last_status_code) == (
        "failed",
        2,
        None,
    )
    assert "Connection refused" in unreachable.last_error
    assert len(server.requests) == 2


def test_the_admin_lists_failed_deliveries_with_the_receivers_answer(team, receiver, settings):
    settings.FRAUDCASE_WEBHOOK_MAX_ATTEMPTS = 1
    analyst, lead, queue = team
    subscribe(receiver(503).url, "case.assigned")
    services.case_assign(actor=lead, case_id=make_case(queue).pk, assignee_id=analyst.pk)
    webhook_deliveries_send_due()
    root = get_user_model().objects.create_superuser("root", password="a-long-test-password")

    failed = client_for(root).get("/admin/cases/webhookdelivery/", {"status__exact": "failed"})
    delivered = client_for(root).get(
        "/admin/cases/webhookdelivery/", {"status__exact": "delivered"}
    )

    assert failed.status_code == 200
    page = failed.content.decode()
    assert "HTTP 503" in page and "case.assigned" in page and "1 webhook delivery" in page
    assert "0 webhook deliveries" in delivered.content.decode()


def test_a_cases_later_event_waits_for_its_earlier_one(team, receiver):
    analyst, lead, queue = team
    server = receiver(500)  # the first POST fails, the rest succeed
    subscribe(server.url, "case.assigned", "case.status_changed")
    case, other_case = make_case(queue), make_case(queue)
    services.case_assign(actor=lead, case_id=case.pk, assignee_id=analyst.pk)
    services.case_transition(actor=analyst, case_id=case.pk, to_status="in_review")
    services.case_assign(actor=lead, case_id=other_case.pk, assignee_id=analyst.pk)

    webhook_deliveries_send_due()
    # The case's status change is held back behind its failed assignment; the other case's
    # event is not held back by it.
    assert [(d["type"], d["data"]["case_id"]) for d in server.documents()] == [
        ("case.assigned", case.pk), ("case.assigned", other_case.pk),
    ]  # fmt: skip
    held = WebhookDelivery.objects.get(event__type="case.status_changed")
    assert (held.status, held.attempts) == ("pending", 0)

    webhook_deliveries_send_due(now=later(3600))
    assert [(d["type"], d["data"]["case_id"]) for d in server.documents()] == [
        ("case.assigned", case.pk), ("case.assigned", other_case.pk),
        ("case.assigned", case.pk), ("case.status_changed", case.pk),
    ]  # fmt: skip
    assert server.documents()[3]["data"] == {
        "case_id": case.pk, "case_reference": case.reference, "from": "open", "to": "in_review",
        "version": 3,
    }  # fmt: skip
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_the_event_is_written_in_the_changes_transaction(team, receiver):
    analyst, lead, queue = team
    subscribe(receiver().url, "case.assigned")
    case = make_case(queue)

    with pytest.raises(RuntimeError), transaction.atomic():
        services.case_assign(actor=lead, case_id=case.pk, assignee_id=analyst.pk)
        assert WebhookEvent.objects.count() == 1  # visible inside the change's transaction
        raise RuntimeError("the change is rolled back")

    case.refresh_from_db()
    assert case.assignee_id is None
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_no_subscription_for_the_type_records_nothing(
    team, receiver, django_capture_on_commit_callbacks
):
    analyst, lead, queue = team
    subscribe(receiver().url, "case.closed")
    subscribe(receiver().url, "case.assigned", active=False)
    case = make_case(queue)

    with django_capture_on_commit_callbacks() as queued:
        services.case_assign(actor=lead, case_id=case.pk, assignee_id=analyst.pk)

    assert queued == []
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_opened_cases_are_recorded_in_bulk_with_their_queue(team, receiver):
    _, _, queue = team
    first = subscribe(receiver().url, "case.opened")
    second = subscribe(receiver().url, "case.opened", "case.closed")
    cases = [Case.objects.create(account_id=f"acc_open_{n}") for n in range(3)]

    services.cases_route_new(actor=system_actor(), case_ids=[case.pk for case in cases])

    events = list(WebhookEvent.objects.order_by("id"))
    assert [(e.type, e.case_id) for e in events] == [("case.opened", c.pk) for c in cases]
    assert (
        events[0].payload["queue"] == "General" and events[0].payload["account_id"] == "acc_open_0"
    )
    assert WebhookDelivery.objects.filter(subscription=first).count() == 3
    assert WebhookDelivery.objects.filter(subscription=second).count() == 3


def test_redeliver_from_the_admin_sends_the_event_again_and_is_audited(team, receiver):
    analyst, lead, queue = team
    server = receiver()
    subscribe(server.url, "case.assigned")
    services.case_assign(actor=lead, case_id=make_case(queue).pk, assignee_id=analyst.pk)
    webhook_deliveries_send_due()
    delivery = WebhookDelivery.objects.get(status="delivered")

    with pytest.raises(ActionNotPermitted):
        webhook_deliveries_redeliver(actor=analyst, delivery_ids=[delivery.pk])
    root = get_user_model().objects.create_superuser("root", password="a-long-test-password")
    response = client_for(root).post(
        "/admin/cases/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("pending", 0, None)
    [event] = AuditEvent.objects.filter(action=AuditAction.WEBHOOK_REDELIVERED)
    assert event.actor_name.startswith("root") and event.object_id == str(delivery.pk)
    assert event.before["status"] == "delivered" and event.after == {
        "status": "pending",
        "attempts": 0,
    }
    webhook_deliveries_send_due()
    first, again = server.requests
    assert first[0]["X-FraudCase-Event-Id"] == again[0]["X-FraudCase-Event-Id"]


def test_subscription_changes_in_the_admin_are_audited_without_the_secret(team):
    root = get_user_model().objects.create_superuser("root", password="a-long-test-password")
    response = client_for(root).post(
        "/admin/cases/webhooksubscription/add/",
        {"name": "siem", "url": "https://siem.example/hooks", "event_types": "case.closed,case.merged",
         "active": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    subscription = WebhookSubscription.objects.get(name="siem")
    assert len(subscription.secret) == 64
    [event] = AuditEvent.objects.filter(action=AuditAction.WEBHOOK_SUBSCRIPTION_CHANGED)
    assert event.after["event_types"] == ["case.closed", "case.merged"]
    assert "secret" not in event.after
    assert subscription.secret not in json.dumps(event.after)


def test_closing_reopening_and_merging_record_their_events(receiver):
    analyst, _, lead, _, queue = make_team()
    subscribe(receiver().url, "case.closed", "case.status_changed", "case.merged")
    case, other, merged = make_case(queue), make_case(queue), make_case(queue)

    services.case_close(
        actor=analyst, case_id=case.pk, resolution="confirmed_fraud",
        reason_codes=["card-compromised"], comment="stolen card",
    )  # fmt: skip
    services.case_reopen(actor=lead, case_id=case.pk, reason="new evidence")
    services.case_merge(
        actor=lead, source_case_id=merged.pk, target_case_id=other.pk, justification="same person"
    )

    events = [(e.type, e.case_id, e.payload) for e in WebhookEvent.objects.order_by("id")]
    ref = {c.pk: c.reference for c in (case, other, merged)}
    assert events == [
        ("case.closed", case.pk, {"case_id": case.pk, "case_reference": ref[case.pk],
                                  "resolution": "confirmed_fraud", "reason_codes": ["card-compromised"],
                                  "version": 2}),
        ("case.status_changed", case.pk, {"case_id": case.pk, "case_reference": ref[case.pk],
                                          "from": "closed", "to": "in_review", "reopened": True,
                                          "version": 3}),
        ("case.merged", merged.pk, {"case_id": merged.pk, "case_reference": ref[merged.pk],
                                    "merged_into_case_id": other.pk, "merged_into": ref[other.pk],
                                    "moved": {"transactions": 2, "notes": 0, "attachments": 0}}),
    ]  # fmt: skip
    assert WebhookDelivery.objects.filter(status="pending").count() == 3


def test_a_label_export_records_label_exported(receiver, s3, settings, bucket):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    analyst, *_, queue = make_team()
    subscribe(receiver().url, "label.exported")
    tx = make_case(queue, status="in_review", transactions=1).transactions.get()
    services.transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="fraud")

    assert labels_export_pending() == 1

    [event] = WebhookEvent.objects.all()
    batch = LabelExportBatch.objects.get()
    assert (event.type, event.case_id) == ("label.exported", None)
    assert event.payload == {
        "batch_id": batch.batch_id, "bucket": bucket, "object_key": batch.object_key,
        "row_count": 1, "label_rows": 1, "retraction_rows": 0,
    }  # fmt: skip


def test_ingest_records_opened_cases_and_finished_or_failed_runs(receiver, s3, bucket):
    make_queue("General", is_default=True)
    subscribe(receiver().url, "case.opened", "ingest_run.finished", "ingest_run.failed")
    put_file(
        s3, bucket, "flagged/a.jsonl", encode_rows([contract_row(i) for i in range(3)], "jsonl")
    )
    put_file(s3, bucket, "flagged/b.csv", b"")

    runs = [ingest_run_execute(run_id=run_id) for run_id in inbox_scan(bucket=bucket)]
    runs = {run.key: run for run in runs}

    events = list(WebhookEvent.objects.order_by("id"))
    opened = [e for e in events if e.type == "case.opened"]
    assert sorted(e.payload["account_id"] for e in opened) == [
        "acc_00000",
        "acc_00001",
        "acc_00002",
    ]
    assert {e.case_id for e in opened} == set(Case.objects.values_list("pk", flat=True))
    runs_events = {e.payload["run_id"]: e for e in events if e.type.startswith("ingest_run.")}
    good, empty = runs["flagged/a.jsonl"], runs["flagged/b.csv"]
    assert runs_events[good.pk].type == "ingest_run.finished"
    assert runs_events[good.pk].payload["rows_loaded"] == 3
    assert runs_events[empty.pk].type == "ingest_run.failed"
    assert "empty" in runs_events[empty.pk].payload["error"]
