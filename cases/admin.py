"""Read-only admin for what came in and why rows were refused."""

from django.contrib import admin
from django.utils.html import format_html

from cases.models import Case, IngestRun, QuarantinedRow, Transaction


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
    list_filter = ("status", "file_format", "bucket", "triggered_by")
    search_fields = ("key", "etag")
    date_hierarchy = "created_at"
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
