"""Read-only admin for shadow scores (imported by cases/admin.py, which Django loads)."""

from django.contrib import admin

from cases.adminkit import ReadOnlyAdmin
from cases.models import ShadowScore


@admin.register(ShadowScore)
class ShadowScoreAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "transaction_id", "model_version", "similarity_score", "outcome", "scored_at",
        "ingest_run",
    )  # fmt: skip
    list_filter = ("model_version", "outcome")
    search_fields = ("transaction_id",)
    list_select_related = ("ingest_run",)
    readonly_fields = [field.name for field in ShadowScore._meta.fields]
