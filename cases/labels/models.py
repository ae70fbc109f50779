"""Label versions, the export outbox and export batches: labels on their way to retraining.

A label is never edited: each change is a new LabelVersion that supersedes the one before.
Transaction.label keeps the current effective label (the newest version that is pending or
exported) for the pages and the neighbour lookups. Saving a version writes a LabelOutbox row in
the same database transaction; the exporter claims outbox rows into a LabelExportBatch, writes
the batch under a key fixed at claim time, and marks it exported only after S3 confirms.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class LabelStatus(models.TextChoices):
    PENDING = "pending", "Pending export"
    HELD = "held", "Held for lead review"
    EXPORTED = "exported", "Exported"
    QUARANTINED = "quarantined", "Quarantined"
    REJECTED = "rejected", "Rejected by a lead"
    # A held version replaced by a newer one before anyone reviewed it.
    SUPERSEDED = "superseded", "Superseded while held"


# Versions that count as the transaction's label (Transaction.label follows the newest).
EFFECTIVE_LABEL_STATUSES = (LabelStatus.PENDING, LabelStatus.EXPORTED)


class HoldReason(models.TextChoices):
    FLIP_OF_EXPORTED = "flip_of_exported", "Flips an exported label (four-eyes)"
    # The value stays (stored rows); the rule is a share well above the team's, not a burst.
    CONTRADICTION_BURST = (
        "contradiction_burst",
        "Analyst's share of labels against the model well above the team's",
    )


class LabelSource(models.TextChoices):
    """Where a label version came from: exported as its lineage (`source`)."""

    ANALYST = "analyst", "An analyst's review"
    IMPORT = "import", "Imported historical truth (chargebacks, confirmed reports)"


class LabelVersion(models.Model):
    """One analyst verdict on one transaction, with the detector's view at decision time."""

    transaction = models.ForeignKey(
        "cases.Transaction", on_delete=models.PROTECT, related_name="label_versions"
    )
    version = models.PositiveIntegerField()
    label = models.CharField(max_length=16)
    reason_codes = models.JSONField(default=list, blank=True)
    analyst = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # HMAC of the analyst's pk: stable lineage without the username (cases.labels.services.versions).
    analyst_pseudonym = models.CharField(max_length=64, db_index=True)
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    why = models.CharField(max_length=32, help_text="analyst or resolution default")
    source = models.CharField(
        max_length=16, choices=LabelSource.choices, default=LabelSource.ANALYST,
        db_default=LabelSource.ANALYST,
    )  # fmt: skip
    # An import's justification and file (manage.py import_labels); empty for analysts' labels.
    import_note = models.TextField(blank=True, default="")
    # The detector's view when the analyst decided, copied from the transaction.
    model_version = models.CharField(max_length=64)
    similarity_score = models.FloatField()
    detector_outcome = models.CharField(max_length=16, blank=True)
    neighbour_fraud_share = models.FloatField(null=True, blank=True)
    contradicts_model = models.BooleanField(
        default=False, help_text="against both the detector's outcome and the neighbour verdict"
    )
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    status = models.CharField(max_length=16, choices=LabelStatus.choices, db_index=True)
    hold_reason = models.CharField(max_length=32, choices=HoldReason.choices, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    # Set once any export batch carrying this version reached S3.
    first_exported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["transaction_id", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["transaction", "version"], name="label_version_unique_per_transaction"
            ),
        ]
        indexes = [
            models.Index(fields=["analyst", "decided_at"], name="label_version_analyst_idx"),
            models.Index(
                fields=["analyst", "decided_at"],
                condition=Q(contradicts_model=True),
                name="label_version_contradicts_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} v{self.version} {self.label} ({self.status})"


class LabelExportAction(models.TextChoices):
    EXPORT = "export", "Export the label version"
    # A version quarantined after it was exported: a retraction row takes it out of the
    # assembled training set (the exported objects themselves are never rewritten).
    RETRACT = "retract", "Retract an exported version"


class LabelExportBatch(models.Model):
    """One gzipped JSON Lines object (and its manifest) in the retraining bucket.

    The batch id, key and rows are fixed when the batch is claimed, so writing it again after
    a crash replaces the same object instead of adding a second copy.
    """

    class State(models.TextChoices):
        WRITING = "writing", "Claimed, being written"
        EXPORTED = "exported", "Exported (S3 confirmed)"
        EMPTY = "empty", "Nothing left to write"

    batch_id = models.CharField(max_length=64, unique=True)
    bucket = models.CharField(max_length=63)
    object_key = models.CharField(max_length=512)
    manifest_key = models.CharField(max_length=512)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.WRITING, db_index=True
    )
    row_count = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    etag = models.CharField(max_length=80, blank=True)
    decided_from = models.DateTimeField(null=True, blank=True)
    decided_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    exported_at = models.DateTimeField(null=True, blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    # The exporter writing it (cases.holders token) and until when (the database's clock): S3
    # is written under this lease, not under a row lock (cases.labels.services.export).
    claimed_by = models.CharField(max_length=128, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.batch_id


class LabelOutbox(models.Model):
    """A label version (or its retraction) waiting to reach the retraining bucket."""

    label_version = models.ForeignKey(
        LabelVersion, on_delete=models.PROTECT, related_name="outbox_entries"
    )
    action = models.CharField(
        max_length=16, choices=LabelExportAction.choices, default=LabelExportAction.EXPORT
    )
    created_at = models.DateTimeField(default=timezone.now)
    batch = models.ForeignKey(
        LabelExportBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(batch__isnull=True), name="label_outbox_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"outbox #{self.pk} {self.action} {self.label_version_id}"
