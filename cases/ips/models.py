"""Source IPs: where the GeoIP databases place them, what the curation service saw of them, and
the fraud rings they tie together (accounts linked by the IPs and devices they share).

A ring snapshot is derived data (cases/ips/services.py recomputes it from transactions), so the
rings page reads a table instead of walking a million transactions per request.
"""

from django.contrib.postgres.fields import ArrayField
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


class RingSnapshot(models.Model):
    """One computation of every ring; the page shows the newest complete one."""

    started_at = models.DateTimeField(default=timezone.now)
    computed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The hub threshold in force: IPs and devices above it were left out of every ring.
    hub_degree = models.PositiveIntegerField()
    linked_accounts = models.PositiveIntegerField(default=0, help_text="accounts in some ring")
    ring_count = models.PositiveIntegerField(default=0)
    hub_ips = models.PositiveIntegerField(default=0, help_text="IPs excluded as shared")
    hub_devices = models.PositiveIntegerField(default=0, help_text="devices excluded as shared")
    duration_ms = models.PositiveIntegerField(default=0)
    requested_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-computed_at"]

    def __str__(self) -> str:
        return f"rings computed at {self.computed_at or 'not yet'}"


class Ring(models.Model):
    """A connected group of at least two accounts sharing IPs or devices (hubs excluded)."""

    snapshot = models.ForeignKey(RingSnapshot, on_delete=models.CASCADE, related_name="rings")
    size = models.PositiveIntegerField(help_text="member accounts")
    fraud_accounts = models.PositiveIntegerField(help_text="members with a fraud label")
    open_case_accounts = models.PositiveIntegerField(help_text="members with an open case")
    risk = models.PositiveSmallIntegerField(
        default=0, help_text="0-100: the highest priority among the members' open cases"
    )
    account_ids = ArrayField(models.CharField(max_length=128))
    # The shared IPs and devices that hold the ring together (each used by 2+ members),
    # at most RING_SHARED_LIMIT of each; the counts say how many there are in all.
    shared_ips = ArrayField(models.CharField(max_length=45), default=list)
    shared_devices = ArrayField(models.CharField(max_length=128), default=list)
    shared_ip_count = models.PositiveIntegerField(default=0)
    shared_device_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                "snapshot", models.F("fraud_accounts").desc(), models.F("size").desc(),
                name="ring_by_fraud_idx",
            ),
            models.Index(
                "snapshot", models.F("size").desc(), models.F("fraud_accounts").desc(),
                name="ring_by_size_idx",
            ),
            models.Index(
                "snapshot", models.F("risk").desc(), models.F("fraud_accounts").desc(),
                name="ring_by_risk_idx",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"ring of {self.size} accounts"


class RingMember(models.Model):
    """Which ring an account is in, for the case page's "part of a ring" line."""

    ring = models.ForeignKey(Ring, on_delete=models.CASCADE, related_name="members")
    account_id = models.CharField(max_length=128, db_index=True)

    def __str__(self) -> str:
        return self.account_id
