"""Webhooks: subscriptions, the event outbox, and one delivery per subscription per event.

A service that changes something records a WebhookEvent in its own transaction (the outbox),
with one WebhookDelivery for each active subscription that wants the event's type; a worker
sends the deliveries after the commit (cases/webhooks/delivery.py), at least once, in order
per case and subscription.
"""

from __future__ import annotations

import secrets
import uuid

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cases.webhooks.targets import webhook_url_refusal


class WebhookEventType(models.TextChoices):
    CASE_OPENED = "case.opened", "Case opened"
    CASE_ASSIGNED = "case.assigned", "Case assigned (or unassigned)"
    CASE_STATUS_CHANGED = "case.status_changed", "Case status changed (or reopened)"
    CASE_CLOSED = "case.closed", "Case closed"
    CASE_MERGED = "case.merged", "Case merged"
    LABEL_EXPORTED = "label.exported", "Label batch exported"
    INGEST_RUN_FINISHED = "ingest_run.finished", "Ingest run finished"
    INGEST_RUN_FAILED = "ingest_run.failed", "Ingest run failed"
    # analytics.drift: a batch or day whose distribution moved past a threshold.
    DRIFT_DETECTED = "drift.detected", "Drift detected"


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class WebhookSubscription(models.Model):
    """A receiver's URL and the event types it wants.

    The secret is a shared secret: FraudCase signs each delivery with it (HMAC-SHA256) and the
    receiver verifies with the same value, so it is stored as it is (a hash could not sign).
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, help_text="https:// endpoint that receives the POSTs")
    event_types = ArrayField(
        models.CharField(max_length=32, choices=WebhookEventType.choices),
        help_text="the event types sent to this URL",
    )
    secret = models.CharField(
        max_length=128,
        default=new_webhook_secret,
        help_text="shared secret for the X-FraudCase-Signature HMAC; give it to the receiver",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    def clean(self) -> None:
        # Not into FraudCase's own network (cases/webhooks/targets.py); checked again at delivery.
        refusal = webhook_url_refusal(self.url) if self.url else None
        if refusal:
            raise ValidationError({"url": f"webhooks are sent to public addresses only: {refusal}"})


class WebhookEvent(models.Model):
    """Something that happened, written in the transaction that made it happen (the outbox)."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=32, choices=WebhookEventType.choices, db_index=True)
    # Plain id, no constraint: the event outlives nothing, and ingest inserts it in bulk.
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )  # fmt: skip
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookDelivery(models.Model):
    """One event on its way to one subscription: attempts, the receiver's last answer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (attempts spent)"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    # The event's case, copied: order per case and subscription is checked on this table alone.
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )  # fmt: skip
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Set by the worker that claimed the delivery and is sending it: others leave it alone
    # until then (a worker that died mid-send lets it go when this passes).
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="webhook_delivery_once_per_subscription"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due_idx",
            ),
            models.Index(
                fields=["subscription", "case", "event"],
                condition=Q(status="pending"),
                name="webhook_delivery_order_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} of {self.event_id} to {self.subscription_id} ({self.status})"
