"""Rows of the service audit table: labels, ingest, rings, webhooks, accounts, the audit trail."""

from __future__ import annotations

import io
from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.accounts import enrolment, sign_in, tokens, users
from cases.audit import anchors, export, reads
from cases.audit.trail import reset_request_user, set_request_user
from cases.currency import services as currency
from cases.ingest import intake
from cases.ingest import services as ingest
from cases.ips import services as ips
from cases.labels.services import export as label_export
from cases.labels.services import imports as label_imports
from cases.labels.services import versions
from cases.models import (
    Attachment,
    AuditEvent,
    Case,
    IngestRun,
    LabelExportBatch,
    LabelVersion,
    WebhookDelivery,
    WebhookSubscription,
)
from cases.models import AuditAction as A
from cases.tests.service_audit_table import Event, Row, fresh
from cases.tests.sign_in_fixtures import current_code
from cases.webhooks import services as webhooks
from cases.workflow import services as workflow

T_START, T_END = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)


def _labelled(world) -> None:
    workflow.transaction_label(actor=world.analyst, transaction_id=world.tx.transaction_id, label="fraud")  # fmt: skip
    world.version = LabelVersion.objects.get(transaction=world.tx)


def _exported(world) -> None:
    _labelled(world)
    label_export.labels_export_pending()
    world.batch = LabelExportBatch.objects.get()


def _held_flip(world) -> None:
    _exported(world)
    workflow.transaction_label(actor=world.analyst, transaction_id=world.tx.transaction_id, label="legitimate")  # fmt: skip
    world.held = LabelVersion.objects.get(status="held")


def _quarantined(world) -> None:
    _labelled(world)
    versions.labels_quarantine_analyst(
        actor=world.lead, analyst_id=world.analyst.pk, start=T_START, end=T_END, reason="burst"
    )


def _claimed(world) -> None:
    _labelled(world)
    world.batch = label_export.label_batch_claim()


def _batch_exported(world, result) -> list[Event]:
    batch = LabelExportBatch.objects.get()
    return [
        Event(A.LABEL_BATCH_EXPORTED, batch, actor="system",
              after={"bucket": world.retraining_bucket, "object_key": batch.object_key,
                     "row_count": 1, "sha256": batch.sha256, "label_rows": 1, "retraction_rows": 0})
    ]  # fmt: skip


def _review_expected(world, version, approve: bool) -> list[Event]:
    version = fresh(version)
    return [
        Event(A.LABEL_RELEASED if approve else A.LABEL_REJECTED, version,
              {"status": "held", "current_label": "fraud"},
              {"status": version.status, "transaction_id": world.tx.transaction_id, "version": 2,
               "label": "legitimate", "hold_reason": "flip_of_exported",
               "labelled_by": version.analyst_pseudonym, "note": "checked",
               "current_label": "legitimate" if approve else "fraud"})
    ]  # fmt: skip


def _run(status: str, **fields):
    def setup(world) -> None:
        world.run = IngestRun.objects.create(
            bucket="inbox", key="flagged/day.csv", etag="abc", status=status, **fields
        )

    return setup


def _failed_delivery(world) -> None:
    WebhookSubscription.objects.create(
        name="siem", url="https://siem.example/hook", event_types=["case.assigned"]
    )
    workflow.case_assign(actor=world.lead, case_id=world.case.pk, assignee_id=world.analyst.pk)
    world.delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=world.delivery.pk).update(
        status="failed", attempts=8, last_status_code=500
    )


def _token(world) -> None:
    world.token = tokens.api_token_create(
        actor=world.analyst, user_id=world.analyst.pk, name="sync", scope="read"
    ).token


def _device(world) -> None:
    world.device = TOTPDevice.objects.create(user=world.analyst, name="phone", confirmed=True)


def _enrolment_code(world) -> None:
    world.issued = enrolment.otp_enrolment_issue(
        actor=world.system, user_id=world.analyst.pk, ttl=timedelta(hours=1)
    )


def _enrolment_begun(world) -> None:
    _enrolment_code(world)
    sign_in.otp_enrolment_begin(actor=world.analyst, enrolment_code=world.issued.code)
    world.pending = TOTPDevice.objects.get(user=world.analyst, confirmed=False)


def _as_request_of(actor, call):
    """Run call as the signed-in user of a request would (cases.audit.middleware binds it)."""
    token = set_request_user(lambda: actor)
    try:
        return call()
    finally:
        reset_request_user(token)


def _failed_sign_ins(world) -> None:
    for ip, failures in (("203.0.113.7", 2), ("198.51.100.9", 1)):
        AccessAttempt.objects.create(
            username="ana", ip_address=ip, user_agent="test", http_accept="*/*", path_info="/",
            get_data="", post_data="", failures_since_start=failures,
        )  # fmt: skip


def _head(world) -> None:
    world.head = AuditEvent.objects.order_by("-id").first()
    world.events_so_far = AuditEvent.objects.count()


def _attachment(world) -> None:
    world.attachment = Attachment.objects.create(
        case=world.case, uploaded_by=world.analyst, uploaded_by_name="ana", filename="a.txt",
        content_type="text/plain", size_bytes=3, sha256="0" * 64, s3_bucket="b", s3_key="k",
    )  # fmt: skip


PENDING_DEVICE = {"name": sign_in.DEVICE_NAME, "confirmed": False, "user": "ana", "t0": 0, "step": 30,
                  "digits": 6, "tolerance": 1}  # fmt: skip


def _opened_by_system(case) -> Event:
    return Event(
        A.CASE_OPENED, case, actor="system",
        after={"account_id": case.account_id, "queue": case.queue.name, "due_at": case.due_at,
               "priority": case.priority},
    )  # fmt: skip


def _flag_row() -> dict:
    return {
        "transaction_id": "tx_api_1", "account_id": "acc_api", "occurred_at": "2026-11-01T12:00:00Z",
        "amount": "12.50", "currency": "EUR", "merchant": "Shop", "merchant_category": "5411",
        "channel": "ecommerce", "country": "DE", "source_ip": "81.2.69.1", "device_id": "dev_1",
        "similarity_score": 0.9, "model_version": "detector-1", "outcome": "block",
        "embedding": [1.0] + [0.0] * (settings.FRAUDCASE_EMBEDDING_DIM - 1),
        "features": {"log_amount": 1.5},
    }  # fmt: skip


OTHER_ROWS = [
    Row(
        label_imports.labels_import,
        "lead",
        lambda w, a: label_imports.labels_import(
            actor=a,
            justification="Chargebacks of October",
            source_name="chargebacks.csv",
            rows=label_imports.labels_import_parse(
                f"transaction_id,label\n{w.tx.transaction_id},fraud\n"
            ),
        ),
        lambda w, r: [
            Event(
                A.TRANSACTION_LABELLED,
                w.tx,
                {"label": ""},
                {
                    "label": "fraud",
                    "why": "import",
                    "case_id": w.case.pk,
                    "version": 1,
                    "status": "pending",
                },
            ),
            Event(
                A.LABELS_IMPORTED,
                ("cases.labelversion", ""),
                after={
                    "file": "chargebacks.csv",
                    "justification": "Chargebacks of October",
                    "rows": 1,
                    "imported": 1,
                    "unchanged": 0,
                    "held": 0,
                },
            ),
        ],
    ),
    Row(
        currency.exchange_rates_load,
        "lead",
        lambda w, a: currency.exchange_rates_load(
            actor=a,
            source="rates.csv",
            rows=currency.exchange_rates_parse(
                "currency,quote_currency,rate,valid_from\nGBP,EUR,1.17,2026-01-01\n"
            ),
        ),
        lambda w, r: [
            Event(
                A.EXCHANGE_RATES_LOADED,
                ("cases.exchangerate", ""),
                after={
                    "source": "rates.csv",
                    "rows": 1,
                    "created": 1,
                    "updated": 0,
                    "unchanged": 0,
                    "reporting_currency": "EUR",
                    "currencies": ["EUR", "GBP"],
                    "transactions_converted": 0,
                    "transactions_without_rate": 0,
                    "cases_rerouted": 0,
                },
            )
        ],
    ),
    Row(
        versions.label_review,
        "second_lead",
        lambda w, a: versions.label_review(
            actor=a, version_id=w.held.pk, approve=True, note="checked"
        ),
        lambda w, r: _review_expected(w, w.held, approve=True),
        setup=_held_flip,
    ),
    Row(
        versions.label_review,
        "second_lead",
        lambda w, a: versions.label_review(
            actor=a, version_id=w.held.pk, approve=False, note="checked"
        ),
        lambda w, r: _review_expected(w, w.held, approve=False),
        setup=_held_flip,
        id="label_review (reject)",
    ),
    Row(
        versions.label_version_record,
        "analyst",
        lambda w, a: workflow.transaction_label(
            actor=a, transaction_id=w.tx.transaction_id, label="legitimate"
        ),
        lambda w, r: [
            Event(
                A.TRANSACTION_LABELLED,
                w.tx,
                {"label": "fraud"},
                {
                    "label": "legitimate",
                    "why": "analyst",
                    "case_id": w.case.pk,
                    "version": 2,
                    "status": "held",
                },
            ),
            Event(
                A.LABEL_HELD,
                LabelVersion.objects.get(version=2),
                after={
                    "transaction_id": w.tx.transaction_id,
                    "version": 2,
                    "label": "legitimate",
                    "hold_reason": "flip_of_exported",
                    "exported_label": "fraud",
                    "guard": None,
                },
            ),
        ],
        setup=_exported,
        id="transaction_label (flip held: label_version_record)",
    ),
    Row(
        versions.labels_quarantine_analyst,
        "lead",
        lambda w, a: versions.labels_quarantine_analyst(
            actor=a, analyst_id=w.analyst.pk, start=T_START, end=T_END, reason=" burst "
        ),
        lambda w, r: [
            Event(
                A.LABEL_QUARANTINED,
                w.version,
                {"status": "pending"},
                {
                    "status": "quarantined",
                    "transaction_id": w.tx.transaction_id,
                    "version": 1,
                    "label": "fraud",
                    "retracted": False,
                    "reason": "burst",
                    "analyst_id": w.analyst.pk,
                    "start": T_START,
                    "end": T_END,
                },
            )
        ],
        setup=_labelled,
    ),
    Row(
        versions.label_batch_quarantine,
        "lead",
        lambda w, a: versions.label_batch_quarantine(
            actor=a, batch_id=w.batch.batch_id, reason="bad"
        ),
        lambda w, r: [
            Event(
                A.LABEL_QUARANTINED,
                w.version,
                {"status": "exported"},
                {
                    "status": "quarantined",
                    "transaction_id": w.tx.transaction_id,
                    "version": 1,
                    "label": "fraud",
                    "retracted": True,
                    "reason": "bad",
                    "batch_id": w.batch.batch_id,
                },
            )
        ],
        setup=_exported,
    ),
    Row(
        versions.labels_release_quarantine,
        "lead",
        lambda w, a: versions.labels_release_quarantine(
            actor=a, reason="fine", analyst_id=w.analyst.pk, start=T_START, end=T_END
        ),
        lambda w, r: [
            Event(
                A.LABEL_QUARANTINE_RELEASED,
                w.version,
                {"status": "quarantined"},
                {
                    "status": "pending",
                    "transaction_id": w.tx.transaction_id,
                    "version": 1,
                    "label": "fraud",
                    "reason": "fine",
                    "analyst_id": w.analyst.pk,
                    "start": T_START,
                    "end": T_END,
                },
            )
        ],
        setup=_quarantined,
    ),
    Row(
        label_export.labels_export_pending,
        "system",
        lambda w, a: label_export.labels_export_pending(),
        _batch_exported,
        setup=_labelled,
    ),
    Row(
        label_export.label_batch_write,
        "system",
        lambda w, a: label_export.label_batch_write(batch_pk=w.batch.pk),
        _batch_exported,
        setup=_claimed,
    ),
    Row(
        ingest.ingest_run_rerun,
        "admin",
        lambda w, a: ingest.ingest_run_rerun(actor=a, run_id=w.run.pk),
        lambda w, r: [
            Event(
                A.INGEST_RERUN,
                w.run,
                {"status": "failed", "error": "boom"},
                {"status": "queued", "resumes_after_row": 0},
            )
        ],
        setup=_run("failed", error="boom"),
    ),
    Row(
        ingest.ingest_runs_retry_due,
        "system",
        lambda w, a: ingest.ingest_runs_retry_due(),
        lambda w, r: [
            Event(
                A.INGEST_RERUN,
                w.run,
                {"status": "failed", "error": "S3 was unreachable"},
                {
                    "status": "queued",
                    "resumes_after_row": 0,
                    "reason": "S3 was unreachable: retried automatically",
                },
            )
        ],
        setup=_run(
            "failed",
            error="S3 was unreachable",
            retry_at=timezone.now() - timedelta(minutes=1),
        ),  # fmt: skip
    ),
    Row(
        ingest.ingest_run_fail,
        "system",
        lambda w, a: ingest.ingest_run_fail(run_id=w.run.pk, message="the file is gone"),
        lambda w, r: [
            Event(
                A.INGEST_RUN_FINISHED,
                w.run,
                after={
                    "status": "failed",
                    "etag": "abc",
                    "rows_read": 0,
                    "rows_loaded": 0,
                    "rows_duplicate": 0,
                    "rows_quarantined": 0,
                    "error": "the file is gone",
                },
            )
        ],
        setup=_run("running"),
    ),
    Row(
        intake.flags_submit,
        "service",
        lambda w, a: intake.flags_submit(actor=a, rows=[_flag_row()], size_bytes=100),
        lambda w, r: [
            # The case is opened by FraudCase's rules (system), as for a file from S3.
            _opened_by_system(Case.objects.get(account_id="acc_api")),
            Event(
                A.INGEST_RUN_FINISHED,
                r.run,
                after={
                    "status": "succeeded",
                    "via": "api",
                    "rows_read": 1,
                    "rows_loaded": 1,
                    "rows_duplicate": 0,
                    "rows_quarantined": 0,
                    "cases_opened": 1,
                },
            ),
        ],
    ),
    Row(
        ips.rings_request_refresh,
        "lead",
        lambda w, a: ips.rings_request_refresh(actor=a),
        lambda w, r: [
            Event(
                A.RINGS_REFRESH_REQUESTED,
                ("cases.ringsnapshot", ""),
                after={"hub_degree": settings.FRAUDCASE_LINK_HUB_DEGREE},
            )
        ],
        changes=False,
    ),
    Row(
        webhooks.webhook_deliveries_redeliver,
        "root",
        lambda w, a: webhooks.webhook_deliveries_redeliver(actor=a, delivery_ids=[w.delivery.pk]),
        lambda w, r: [
            Event(
                A.WEBHOOK_REDELIVERED,
                w.delivery,
                {"status": "failed", "attempts": 8, "last_status_code": 500},
                {"status": "pending", "attempts": 0},
            )
        ],
        setup=_failed_delivery,
    ),
    Row(
        users.user_create,
        "admin",
        lambda w, a: users.user_create(
            actor=a,
            username="nia",
            email="Nia@Example.COM",
            password="a-long-test-password-7",
            roles=["analyst"],
        ),
        lambda w, r: [
            Event(
                A.USER_CREATED,
                r,
                after={
                    "username": "nia",
                    "email": "Nia@example.com",
                    "roles": ["analyst"],
                    "is_superuser": False,
                    "has_password": True,
                },
            )
        ],
    ),
    Row(
        users.user_set_roles,
        "admin",
        lambda w, a: users.user_set_roles(actor=a, user_id=w.other_analyst.pk, roles=["lead"]),
        lambda w, r: [
            Event(
                A.USER_ROLES_CHANGED, w.other_analyst, {"roles": ["analyst"]}, {"roles": ["lead"]}
            )
        ],
    ),
    Row(
        tokens.api_token_create,
        "analyst",
        lambda w, a: tokens.api_token_create(actor=a, user_id=a.pk, name="sync", scope="read"),
        lambda w, r: [
            Event(
                A.API_TOKEN_CREATED,
                w.analyst,
                after={
                    "token": r.token.prefix,
                    "name": "sync",
                    "scope": "read",
                    "expires_at": None,
                },
            )
        ],
    ),
    Row(
        tokens.api_token_revoke,
        "analyst",
        lambda w, a: tokens.api_token_revoke(actor=a, token_id=w.token.pk),
        lambda w, r: [
            Event(A.API_TOKEN_REVOKED, w.analyst, after={"token": w.token.prefix, "name": "sync"})
        ],
        setup=_token,
    ),
    Row(
        enrolment.otp_enrolment_issue,
        "admin",
        lambda w, a: enrolment.otp_enrolment_issue(
            actor=a, user_id=w.analyst.pk, ttl=timedelta(days=1)
        ),
        lambda w, r: [
            Event(
                A.OTP_ENROLMENT_ISSUED,
                w.analyst,
                after={
                    "username": "ana",
                    "enrolment_code_id": r.record.pk,
                    "expires_at": r.expires_at,
                    "voided_codes": 0,
                    "has_device": False,
                },
            )
        ],
    ),
    Row(
        enrolment.otp_devices_reset,
        "admin",
        lambda w, a: enrolment.otp_devices_reset(actor=a, user_id=w.analyst.pk),
        lambda w, r: [
            Event(
                A.OTP_DEVICES_RESET, w.analyst, {"devices": ["phone (confirmed)"]}, {"devices": []}
            )
        ],
        setup=_device,
    ),
    Row(
        sign_in.otp_enrolment_begin,
        "analyst",
        lambda w, a: _as_request_of(
            a, lambda: sign_in.otp_enrolment_begin(actor=a, enrolment_code=w.issued.code)
        ),
        lambda w, r: [
            Event(A.OTP_DEVICE_ADDED, TOTPDevice.objects.get(user=w.analyst), after=PENDING_DEVICE)
        ],
        setup=_enrolment_code,
    ),
    Row(
        sign_in.totp_device_add_begin,
        "analyst",
        lambda w, a: _as_request_of(
            a, lambda: sign_in.totp_device_add_begin(actor=a, token=current_code(w.device))
        ),
        lambda w, r: [
            Event(A.OTP_DEVICE_ADDED, TOTPDevice.objects.get(confirmed=False), after=PENDING_DEVICE)
        ],
        setup=_device,
    ),
    Row(
        sign_in.totp_device_confirm,
        "analyst",
        lambda w, a: sign_in.totp_device_confirm(
            actor=a, token=current_code(w.pending), enrolment_code_id=w.issued.record.pk
        ),
        lambda w, r: [
            Event(
                A.OTP_DEVICE_CONFIRMED,
                w.pending,
                after={
                    "device": sign_in.DEVICE_NAME,
                    "type": "totp",
                    "enrolment_code_id": w.issued.record.pk,
                },
            )
        ],
        setup=_enrolment_begun,
    ),
    Row(
        sign_in.totp_verify,
        "analyst",
        lambda w, a: sign_in.totp_verify(actor=a, token=current_code(w.device)),
        lambda w, r: [
            Event(A.SIGN_IN, w.analyst, after={"username": "ana", "stage": "two_factor"})
        ],
        setup=_device,
        changes=None,
    ),
    Row(
        sign_in.user_unlock,
        "lead",
        lambda w, a: sign_in.user_unlock(actor=a, username="ana"),
        lambda w, r: [
            Event(
                A.USER_UNLOCKED,
                w.analyst,
                {"failures": 3, "locked_from": []},
                {"username": "ana", "failures": 0, "known_user": True},
            )
        ],
        setup=_failed_sign_ins,
    ),
    Row(
        sign_in.sign_in_address_unlock,
        "lead",
        lambda w, a: sign_in.sign_in_address_unlock(actor=a, ip_address="203.0.113.7"),
        lambda w, r: [
            Event(
                A.USER_UNLOCKED,
                (sign_in.ADDRESS, "203.0.113.7"),
                {"failures": 2, "usernames": 1},
                {"ip_address": "203.0.113.7", "failures": 0},
            )
        ],
        setup=_failed_sign_ins,
    ),
    Row(
        export.audit_export_csv,
        "auditor",
        lambda w, a: export.audit_export_csv(
            actor=a, start=T_START, end=T_END, output=io.StringIO()
        ),
        lambda w, r: [
            Event(
                A.AUDIT_EXPORTED,
                ("cases.auditevent", ""),
                after={
                    "start": T_START.isoformat(),
                    "end": T_END.isoformat(),
                    "rows": w.events_so_far,
                },
            )
        ],
        setup=_head,
        changes=False,
    ),
    Row(
        anchors.audit_anchor,
        "system",
        lambda w, a: anchors.audit_anchor(actor=a),
        lambda w, r: [
            Event(
                A.AUDIT_ANCHORED,
                (anchors.ANCHOR_OBJECT_TYPE, w.head.pk),
                after={
                    "bucket": settings.FRAUDCASE_AUDIT_BUCKET,
                    "key": r.key,
                    "event_id": w.head.pk,
                    "hash": w.head.hash,
                    "count": w.events_so_far,
                    "object_lock": r.object_lock,
                    "signed": bool(settings.FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY),
                },
            )
        ],
        setup=_head,
        changes=False,
    ),
    Row(
        reads.case_viewed,
        "analyst",
        lambda w, a: reads.case_viewed(actor=a, case=w.case),
        lambda w, r: [Event(A.CASE_VIEWED, w.case)],
        changes=False,
    ),
    Row(
        reads.case_exported,
        "analyst",
        lambda w, a: reads.case_exported(actor=a, case=w.case, export_format="pdf", rows=1),
        lambda w, r: [Event(A.CASE_EXPORTED, w.case, after={"format": "pdf", "transactions": 1})],
        changes=False,
    ),
    Row(
        reads.attachment_downloaded,
        "analyst",
        lambda w, a: reads.attachment_downloaded(actor=a, case=w.case, attachment=w.attachment),
        lambda w, r: [
            Event(
                A.ATTACHMENT_DOWNLOADED,
                w.case,
                after={"attachment_id": w.attachment.pk, "filename": "a.txt", "sha256": "0" * 64},
            )
        ],
        setup=_attachment,
        changes=False,
    ),
]
