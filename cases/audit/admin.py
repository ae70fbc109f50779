"""The audit trail in the admin: read-only, for those who hold view_auditevent."""

import json

from django.contrib import admin
from django.utils.html import format_html

from cases.adminkit import ReadOnlyAdmin
from cases.audit.models import AuditEvent


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
