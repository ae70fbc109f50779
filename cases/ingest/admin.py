"""Ingest runs and quarantined rows in the admin: read-only, with the re-run of failed runs."""

from django.contrib import admin, messages
from django.utils.html import format_html

from cases.adminkit import ReadOnlyAdmin
from cases.errors import CaseError
from cases.ingest.models import IngestRun, QuarantinedRow
from cases.ingest.services import ingest_run_rerun


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
