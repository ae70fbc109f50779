"""Read-only admin for what came in, why rows were refused, and the audit trail; two-factor
actions on users."""

import json
from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.views.decorators.cache import add_never_cache_headers

from cases.models import AuditEvent, Case, IngestRun, QuarantinedRow, Transaction


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ingest records are evidence: operators read them, nobody edits them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IngestRun)
class IngestRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "key", "status", "rows_read", "rows_loaded", "rows_duplicate",
        "rows_quarantined", "progress", "attempts", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("status", "kind", "file_format", "bucket", "triggered_by")
    search_fields = ("key", "etag")
    date_hierarchy = "created_at"
    actions = ["rerun_failed"]

    @admin.action(description="Re-run the selected failed runs")
    def rerun_failed(self, request, queryset):
        from cases.errors import CaseError
        from cases.ingest.services import ingest_run_rerun

        for run in queryset:
            try:
                ingest_run_rerun(actor=request.user, run_id=run.pk)
                self.message_user(request, f"Run {run.pk} queued again.", messages.SUCCESS)
            except CaseError as error:
                self.message_user(request, f"Run {run.pk}: {error.message}", messages.ERROR)

    readonly_fields = [field.name for field in IngestRun._meta.fields] + ["duration"]

    @admin.display(description="progress")
    def progress(self, run):
        return format_html(
            "<progress max='100' value='{}'></progress> {}%",
            run.progress_percent,
            run.progress_percent,
        )

    @admin.display(description="duration (s)")
    def duration(self, run):
        seconds = run.duration_seconds
        return "" if seconds is None else f"{seconds:.1f}"


@admin.register(QuarantinedRow)
class QuarantinedRowAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "ingest_run",
        "row_number",
        "transaction_id",
        "reason_list",
        "quarantined_at",
    )
    list_filter = ("ingest_run__status", "quarantined_at")
    search_fields = ("transaction_id", "raw_text", "ingest_run__key")
    list_select_related = ("ingest_run",)
    readonly_fields = (
        "ingest_run",
        "row_number",
        "transaction_id",
        "reasons",
        "raw_text",
        "quarantined_at",
    )

    @admin.display(description="reasons")
    def reason_list(self, row):
        return "; ".join(row.reasons)


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "account_id",
        "status",
        "priority",
        "max_similarity_score",
        "worst_outcome",
        "amount_at_risk",
        "transaction_count",
        "opened_at",
    )
    list_filter = ("status", "worst_outcome")
    search_fields = ("account_id",)
    ordering = ("-priority",)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = (
        "transaction_id",
        "account_id",
        "occurred_at",
        "amount",
        "currency",
        "merchant",
        "similarity_score",
        "outcome",
        "case",
    )
    list_filter = ("outcome", "channel", "country", "model_version")
    search_fields = ("transaction_id", "account_id", "merchant", "device_id")
    list_select_related = ("case",)
    exclude = ("embedding",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Seen only by users with view_auditevent (auditors, admins); nobody can change it here."""

    list_display = (
        "id", "occurred_at", "actor_name", "action", "object_type", "object_id", "object_repr",
        "client_ip", "request_id",
    )  # fmt: skip
    list_filter = ("action", "object_type", "occurred_at", "actor")
    search_fields = ("actor_name", "object_id", "object_repr", "request_id")
    date_hierarchy = "occurred_at"
    ordering = ("-id",)
    # The trail grows without bound: skip the extra unfiltered COUNT(*) on every page.
    show_full_result_count = False
    fields = (
        "occurred_at", "actor", "actor_name", "action", "object_type", "object_id",
        "object_repr", "before_pretty", "after_pretty", "request_id", "client_ip",
        "previous_hash", "hash",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="before")
    def before_pretty(self, event):
        return _pretty_json(event.before)

    @admin.display(description="after")
    def after_pretty(self, event):
        return _pretty_json(event.after)


def _pretty_json(value):
    if value is None:
        return "—"
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class FraudCaseUserAdmin(UserAdmin):
    """Django's user admin plus the two-factor actions, each one call of an audited service."""

    actions = ["issue_enrolment_code", "reset_two_factor_devices"]

    @admin.action(description="Issue two-factor enrolment code")
    def issue_enrolment_code(self, request, queryset):
        """Codes are shown on a page of their own, once (not in a message cookie)."""
        from cases.errors import CaseError
        from cases.services.otp_enrolment import otp_enrolment_issue

        ttl = timedelta(hours=settings.FRAUDCASE_OTP_ENROLMENT_CODE_HOURS)
        issued = []
        for user in queryset.order_by("username"):
            try:
                issued.append(otp_enrolment_issue(actor=request.user, user_id=user.pk, ttl=ttl))
            except CaseError as error:
                self.message_user(request, f"{user.username}: {error.message}", messages.ERROR)
        if not issued:
            return None
        response = TemplateResponse(
            request,
            "registration/enrolment_codes_issued.html",
            {**self.admin_site.each_context(request), "title": "Enrolment codes", "issued": issued},
        )
        add_never_cache_headers(response)
        return response

    @admin.action(description="Reset two-factor devices")
    def reset_two_factor_devices(self, request, queryset):
        from cases.errors import CaseError
        from cases.services.otp_enrolment import otp_devices_reset

        for user in queryset.order_by("username"):
            try:
                removed = otp_devices_reset(actor=request.user, user_id=user.pk)
            except CaseError as error:
                self.message_user(request, f"{user.username}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{user.username}: {removed} two-factor device(s) removed; they need a new "
                    "enrolment code to sign in.",
                    messages.SUCCESS,
                )


# Last, as they build on ReadOnlyAdmin: curation records and the GeoIP cache; labels on
# their way to retraining (versions, batches, the export backlog).
from cases import admin_ip, admin_labels  # noqa: E402,F401
