"""The audit trail: append-only (the database refuses UPDATE and DELETE) and hash-chained."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT = "sign_out", "Signed out"
    PERMISSION_DENIED = "permission_denied", "Permission denied"
    REFUSED = "refused", "Refused (invalid request)"
    CASE_OPENED = "case_opened", "Case opened"
    CASE_ROUTED = "case_routed", "Case routed to a queue"
    CASE_ASSIGNED = "case_assigned", "Case assigned"
    CASE_UNASSIGNED = "case_unassigned", "Case unassigned"
    CASE_STATUS_CHANGED = "case_status_changed", "Case status changed"
    CASE_CLOSED = "case_closed", "Case closed"
    CASE_REOPENED = "case_reopened", "Case reopened"
    CASE_MERGED = "case_merged", "Case merged"
    CASE_TAGGED = "case_tagged", "Case tags changed"
    NOTE_ADDED = "note_added", "Note added"
    ATTACHMENT_ADDED = "attachment_added", "Attachment added"
    TRANSACTION_DECIDED = "transaction_decided", "Transaction decided"
    TRANSACTION_LABELLED = "transaction_labelled", "Transaction labelled"
    LABEL_HELD = "label_held", "Label held for lead review"
    LABEL_RELEASED = "label_released", "Held label approved"
    LABEL_REJECTED = "label_rejected", "Held label rejected"
    LABEL_QUARANTINED = "label_quarantined", "Labels quarantined"
    LABEL_QUARANTINE_RELEASED = "label_quarantine_released", "Quarantined labels released"
    LABEL_BATCH_EXPORTED = "label_batch_exported", "Label batch exported"
    RINGS_REFRESH_REQUESTED = "rings_refresh_requested", "Rings recomputation requested"
    QUEUE_CHANGED = "queue_changed", "Queue created or changed"
    REASON_CODE_CHANGED = "reason_code_changed", "Reason code created or changed"
    USER_CREATED = "user_created", "User created"
    USER_ROLES_CHANGED = "user_roles_changed", "User roles changed"
    OTP_DEVICE_CONFIRMED = "otp_device_confirmed", "Two-factor device confirmed"
    SETTING_CHANGED = "setting_changed", "Setting changed"
    INGEST_RUN_FINISHED = "ingest_run_finished", "Ingest run finished"
    INGEST_RERUN = "ingest_rerun", "Ingest run re-run"
    AUDIT_EXPORTED = "audit_exported", "Audit trail exported"
    # Reads of case data (one event per page view; exports and downloads always).
    CASE_VIEWED = "case_viewed", "Case viewed"
    CASE_EXPORTED = "case_exported", "Case exported"
    ATTACHMENT_DOWNLOADED = "attachment_downloaded", "Attachment downloaded"
    CASE_TAKEN_OVER = "case_taken_over", "Case taken over from its assignee"
    # Changes to who may do what, from any page (the admin included).
    USER_CHANGED = "user_changed", "User changed"
    USER_DELETED = "user_deleted", "User deleted"
    USER_UNLOCKED = "user_unlocked", "User unlocked"
    GROUP_CHANGED = "group_changed", "Group created or changed"
    GROUP_DELETED = "group_deleted", "Group deleted"
    QUEUE_DELETED = "queue_deleted", "Queue deleted"
    REASON_CODE_DELETED = "reason_code_deleted", "Reason code deleted"
    OTP_DEVICE_ADDED = "otp_device_added", "Two-factor device added"
    OTP_DEVICE_CHANGED = "otp_device_changed", "Two-factor device changed"
    OTP_DEVICE_REMOVED = "otp_device_removed", "Two-factor device removed"
    OTP_DEVICES_RESET = "otp_devices_reset", "Two-factor devices reset"
    OTP_ENROLMENT_ISSUED = "otp_enrolment_issued", "Two-factor enrolment code issued"
    OTP_ENROLMENT_REFUSED = "otp_enrolment_refused", "Two-factor enrolment refused"
    AUDIT_ANCHORED = "audit_anchored", "Audit chain head anchored"
    API_TOKEN_CREATED = "api_token_created", "API token created"
    API_TOKEN_REVOKED = "api_token_revoked", "API token revoked"
    WEBHOOK_SUBSCRIPTION_CHANGED = "webhook_subscription_changed", "Webhook subscription saved"
    WEBHOOK_SUBSCRIPTION_DELETED = "webhook_subscription_deleted", "Webhook subscription deleted"
    WEBHOOK_REDELIVERED = "webhook_redelivered", "Webhook deliveries sent again"
    EXCHANGE_RATES_LOADED = "exchange_rates_loaded", "Exchange rates loaded"
    LABELS_IMPORTED = "labels_imported", "Labels imported by a lead"
    SAVED_VIEW_CREATED = "saved_view_created", "Saved queue view created"
    SAVED_VIEW_DELETED = "saved_view_deleted", "Saved queue view deleted"
    CASE_FOLLOWED = "case_followed", "Case followed"
    CASE_UNFOLLOWED = "case_unfollowed", "Case unfollowed"
    CASE_REMINDER_SENT = "case_reminder_sent", "Reminder sent: customer's reply overdue"


class AuditEvent(models.Model):
    """One change (or refusal), who made it, and the hash linking it to the event before.

    hash = sha256 over the event's content and previous_hash (see cases.audit.trail.event_hash), so
    altering or removing any row breaks the chain at that point.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint: the trail outlives users, and the append-only trigger would
    # refuse the SET NULL a deletion implies. actor_name keeps who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    # Made by the server for every request; what a client sent as X-Request-ID is kept apart.
    request_id = models.CharField(max_length=64, blank=True)
    client_request_id = models.CharField(max_length=64, blank=True)
    # The API token the request came with (its public prefix), so every token use is attributable.
    via_token = models.CharField(max_length=16, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type}:{self.object_id} by {self.actor_name}"
