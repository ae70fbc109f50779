"""What the feature admins share: read-only pages for evidence."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ingest records are evidence: operators read them, nobody edits them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
