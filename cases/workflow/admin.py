"""Cases and transactions in the admin: read-only (they change through the case services)."""

from django.contrib import admin

from cases.adminkit import ReadOnlyAdmin
from cases.models import Case, Transaction


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
