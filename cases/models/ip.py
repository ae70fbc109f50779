"""Source IPs: where the GeoIP databases place them, and what the curation service saw of them."""

from django.db import models
from django.utils import timezone


class IpKind(models.TextChoices):
    """What an address is before any database is asked; only public addresses get a place."""

    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private network"
    SHARED = "shared", "Carrier-grade NAT (shared)"
    LOOPBACK = "loopback", "Loopback"
    LINK_LOCAL = "link_local", "Link-local"
    MULTICAST = "multicast", "Multicast"
    DOCUMENTATION = "documentation", "Documentation range"
    RESERVED = "reserved", "Reserved"
    UNSPECIFIED = "unspecified", "Unspecified"


class IpEnrichment(models.Model):
    """The cached answer of the GeoIP databases for one address.

    database_version names the City and ASN databases (type, build epoch, path) the answer came
    from; a row whose version differs from the databases now configured is stale and refreshed.
    """

    ip = models.GenericIPAddressField(unique=True)
    kind = models.CharField(max_length=16, choices=IpKind.choices)
    country_code = models.CharField(max_length=2, blank=True)
    country_name = models.CharField(max_length=128, blank=True)
    city = models.CharField(max_length=128, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    accuracy_radius_km = models.PositiveIntegerField(null=True, blank=True)
    asn = models.PositiveBigIntegerField(null=True, blank=True)
    as_org = models.CharField(max_length=255, blank=True)
    city_database_epoch = models.BigIntegerField(null=True, blank=True)
    database_version = models.CharField(max_length=512)
    enriched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["database_version"], name="ip_enrichment_version_idx")]

    def __str__(self) -> str:
        return f"{self.ip} ({self.kind})"


class CurationRecord(models.Model):
    """One observation of the curation service: a source IP seen for a transaction.

    Keyed by text to the transaction and account (a curation file may arrive before the
    flagged file that carries its transaction). dedupe_key makes re-delivery a duplicate.
    """

    dedupe_key = models.CharField(max_length=64, unique=True)
    source_ip = models.GenericIPAddressField(db_index=True)
    transaction_id = models.CharField(max_length=128, blank=True, db_index=True)
    account_id = models.CharField(max_length=128, blank=True, db_index=True)
    observed_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ingest_run = models.ForeignKey(
        "cases.IngestRun", on_delete=models.PROTECT, related_name="curation_records"
    )
    source_row = models.PositiveBigIntegerField()
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-observed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.source_ip} for {self.transaction_id or '-'}"
