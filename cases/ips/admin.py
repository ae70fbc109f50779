"""Read-only admin for curation records and the GeoIP cache (imported by cases/admin.py, which Django loads)."""

from django.contrib import admin

from cases.adminkit import ReadOnlyAdmin
from cases.models import CurationRecord, IpEnrichment


@admin.register(CurationRecord)
class CurationRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "source_ip", "transaction_id", "account_id", "observed_at", "ingest_run")
    search_fields = ("transaction_id", "account_id", "user_agent")
    list_select_related = ("ingest_run",)
    readonly_fields = [field.name for field in CurationRecord._meta.fields]


@admin.register(IpEnrichment)
class IpEnrichmentAdmin(ReadOnlyAdmin):
    list_display = (
        "ip", "kind", "country_code", "city", "asn", "as_org", "city_database_epoch", "enriched_at",
    )  # fmt: skip
    list_filter = ("kind", "country_code", "city_database_epoch")
    search_fields = ("city", "as_org", "country_name")
    readonly_fields = [field.name for field in IpEnrichment._meta.fields]
