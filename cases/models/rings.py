"""Fraud rings: accounts linked by the IPs and devices they share, computed as snapshots.

A snapshot is derived data (cases/services/rings.py recomputes it from transactions), so the
rings page reads a table instead of walking a million transactions per request.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


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
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"ring of {self.size} accounts"


class RingMember(models.Model):
    """Which ring an account is in, for the case page's "part of a ring" line."""

    ring = models.ForeignKey(Ring, on_delete=models.CASCADE, related_name="members")
    account_id = models.CharField(max_length=128, db_index=True)

    def __str__(self) -> str:
        return self.account_id
