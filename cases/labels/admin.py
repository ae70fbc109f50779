"""Admin for labels on their way to retraining: versions, export batches, and the backlog.

Read-only like the rest of the admin: changes go through the services (lead actions below
call them, so they are permission-checked and audited).
"""

from __future__ import annotations

from django.contrib import admin, messages

from cases.adminkit import ReadOnlyAdmin
from cases.errors import CaseError
from cases.labels.selectors.backlog import label_export_backlog
from cases.labels.services.versions import label_batch_quarantine, label_review
from cases.models import LabelExportBatch, LabelOutbox, LabelVersion


class BacklogSummaryAdmin(ReadOnlyAdmin):
    """A change list with the retraining export backlog above it."""

    change_list_template = "admin/cases/label_backlog_change_list.html"

    def changelist_view(self, request, extra_context=None):
        backlog = label_export_backlog()
        age = backlog.oldest_pending_age
        summary = {
            "label_backlog": backlog,
            "label_backlog_age": "" if age is None else f"{int(age.total_seconds())} s",
        }
        return super().changelist_view(request, {**summary, **(extra_context or {})})


@admin.register(LabelVersion)
class LabelVersionAdmin(BacklogSummaryAdmin):
    list_display = (
        "transaction", "version", "label", "status", "hold_reason", "analyst", "decided_at",
        "model_version", "similarity_score", "contradicts_model", "first_exported_at",
    )  # fmt: skip
    list_filter = ("status", "hold_reason", "label", "contradicts_model", "why")
    search_fields = ("transaction__transaction_id", "analyst__username", "analyst_pseudonym")
    list_select_related = ("transaction", "analyst")
    date_hierarchy = "decided_at"
    actions = ["approve_held", "reject_held"]

    def _review(self, request, queryset, approve: bool):
        for version in queryset:
            try:
                label_review(actor=request.user, version_id=version.pk, approve=approve)
                self.message_user(request, f"{version}: done.", messages.SUCCESS)
            except CaseError as error:
                self.message_user(request, f"{version}: {error.message}", messages.ERROR)

    @admin.action(description="Approve the selected held labels (four-eyes)")
    def approve_held(self, request, queryset):
        self._review(request, queryset, approve=True)

    @admin.action(description="Reject the selected held labels")
    def reject_held(self, request, queryset):
        self._review(request, queryset, approve=False)


@admin.register(LabelExportBatch)
class LabelExportBatchAdmin(BacklogSummaryAdmin):
    list_display = (
        "batch_id", "state", "row_count", "object_key", "decided_from", "decided_to",
        "created_at", "exported_at", "quarantined_at",
    )  # fmt: skip
    list_filter = ("state", "created_at")
    search_fields = ("batch_id", "object_key", "sha256")
    actions = ["quarantine_batches"]

    @admin.action(description="Quarantine the selected batches (retracts their labels)")
    def quarantine_batches(self, request, queryset):
        for batch in queryset:
            try:
                count = label_batch_quarantine(
                    actor=request.user, batch_id=batch.batch_id, reason="quarantined in the admin"
                )
                self.message_user(request, f"{batch}: {count} label(s) quarantined.")
            except CaseError as error:
                self.message_user(request, f"{batch}: {error.message}", messages.ERROR)


@admin.register(LabelOutbox)
class LabelOutboxAdmin(BacklogSummaryAdmin):
    list_display = ("id", "label_version", "action", "created_at", "batch")
    list_filter = ("action", ("batch", admin.EmptyFieldListFilter))
    list_select_related = ("label_version__transaction", "batch")
