"""Admin for webhooks: subscriptions (editable; changes reach the audit trail through
cases/audit/model_changes.py, the secret never), events and deliveries (read-only, with a
"Redeliver" action that goes through the audited service)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import models

from cases.adminkit import ReadOnlyAdmin
from cases.errors import CaseError
from cases.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from cases.webhooks.services import webhook_deliveries_redeliver


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "event_types", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "url")
    # Generated at creation; the receiver needs it to verify signatures (a shared secret).
    readonly_fields = ("secret", "created_at")
    fields = ("name", "url", "event_types", "active", "secret", "created_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_id", "type", "case", "created_at")
    list_filter = ("type",)
    search_fields = ("=event_id",)
    date_hierarchy = "created_at"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "subscription", "event_type", "case_id", "status", "attempts", "next_attempt_at",
        "last_status_code", "last_error", "delivered_at",
    )  # fmt: skip
    list_filter = ("status", "subscription", "event__type")
    search_fields = ("=event__event_id",)
    list_select_related = ("subscription", "event")
    actions = ["redeliver"]

    @admin.display(description="type", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.action(description="Redeliver the selected deliveries")
    def redeliver(self, request, queryset):
        try:
            count = webhook_deliveries_redeliver(
                actor=request.user, delivery_ids=list(queryset.values_list("pk", flat=True))
            )
        except CaseError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        self.message_user(request, f"{count} delivery(ies) will be sent again.", messages.SUCCESS)
