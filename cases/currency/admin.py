"""Exchange rates in the admin: added or changed through the loading service (audited, and the
amounts they cover are converted again); never deleted (a past conversion must stay explainable)."""

from __future__ import annotations

from django.contrib import admin, messages

from cases.currency.services import RateRow, exchange_rates_load
from cases.errors import CaseError
from cases.models import ExchangeRate


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ("currency", "quote_currency", "rate", "valid_from", "source", "loaded_at")
    list_filter = ("currency", "quote_currency")
    search_fields = ("currency", "quote_currency")
    fields = ("currency", "quote_currency", "rate", "valid_from")
    ordering = ("currency", "quote_currency", "-valid_from")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("cases.manage_queues")

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("cases.manage_queues")

    def get_readonly_fields(self, request, obj=None):
        # A rate's pair and day are what it is; a correction is a new rate value.
        return ("currency", "quote_currency", "valid_from") if obj else ()

    def save_model(self, request, obj, form, change) -> None:
        row = RateRow(obj.currency.upper(), obj.quote_currency.upper(), obj.rate, obj.valid_from)
        try:
            loaded = exchange_rates_load(actor=request.user, rows=[row], source="admin")
        except CaseError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return
        saved = ExchangeRate.objects.get(
            currency=row.currency, quote_currency=row.quote_currency, valid_from=row.valid_from
        )
        obj.pk, obj.loaded_at, obj.source = saved.pk, saved.loaded_at, saved.source
        self.message_user(
            request,
            f"{loaded.transactions_converted} transaction amount(s) converted again; "
            f"{loaded.transactions_without_rate} still without a rate.",
        )
