"""The investigation domain: flagged transactions, the cases that group them, and ingest."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import VectorField

REFERENCE_PREFIX = "FC-"


class Outcome(models.TextChoices):
    """The detector's recommendation, and later the analyst's decision."""

    APPROVE = "approve", "Approve"
    INVESTIGATE = "investigate", "Investigate"
    BLOCK = "block", "Block"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_REVIEW = "in_review", "In review"
    WAITING_ON_CUSTOMER = "waiting_on_customer", "Waiting on customer"
    ESCALATED = "escalated", "Escalated"
    CLOSED = "closed", "Closed"


class Case(models.Model):
    """An account's flagged transactions under investigation.

    The reference (FC-000123) is derived from the primary key, so it can never disagree with it.
    The aggregate columns are kept by services when transactions join, so the queue can sort
    on them without scanning transactions.
    """

    account_id = models.CharField(max_length=128, db_index=True)
    status = models.CharField(
        max_length=24, choices=CaseStatus.choices, default=CaseStatus.OPEN, db_index=True
    )
    priority = models.PositiveSmallIntegerField(default=0, help_text="0 (lowest) to 100")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    max_similarity_score = models.FloatField(default=0.0)
    worst_outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    amount_at_risk = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    transaction_count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Ingest attaches an account's transactions to its one open case; two workers
            # racing to open one for the same account meet this index.
            models.UniqueConstraint(
                fields=["account_id"],
                condition=~Q(status=CaseStatus.CLOSED),
                name="one_open_case_per_account",
            ),
            models.CheckConstraint(
                condition=Q(priority__lte=100), name="case_priority_at_most_100"
            ),
        ]
        indexes = [models.Index(fields=["status", "-priority"], name="case_queue_idx")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.account_id})"

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.pk:06d}" if self.pk else ""


class IngestRun(models.Model):
    """One S3 object (bucket, key, ETag) taken in once, with its books.

    rows_read = rows_loaded + rows_duplicate + rows_quarantined holds at every commit (a
    database check), and rows_read is also the checkpoint a retried run resumes from.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=1024)
    etag = models.CharField(max_length=128)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    file_format = models.CharField(max_length=16, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    triggered_by = models.CharField(max_length=64, blank=True)
    rows_read = models.PositiveBigIntegerField(default=0)
    rows_loaded = models.PositiveBigIntegerField(default=0)
    rows_duplicate = models.PositiveBigIntegerField(default=0)
    rows_quarantined = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    cases_opened = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "key", "etag"], name="ingest_once_per_object"
            ),
            models.CheckConstraint(
                condition=Q(
                    rows_read=models.F("rows_loaded")
                    + models.F("rows_duplicate")
                    + models.F("rows_quarantined")
                ),
                name="ingest_books_balance",
            ),
        ]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key} ({self.status})"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    @property
    def progress_percent(self) -> int:
        """Share of the object's bytes read so far (compressed bytes for .gz)."""
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.size_bytes:
            return 0
        return min(99, int(100 * self.bytes_read / self.size_bytes))


class QuarantinedRow(models.Model):
    """A source row that broke the contract: kept whole, with every reason, never dropped."""

    ingest_run = models.ForeignKey(
        IngestRun, on_delete=models.PROTECT, related_name="quarantined_rows"
    )
    row_number = models.PositiveBigIntegerField(
        help_text="Line number in CSV/JSONL files (the header is line 1 in CSV), row number in Parquet"
    )
    raw_text = models.TextField()
    reasons = models.JSONField(default=list)
    transaction_id = models.CharField(max_length=256, blank=True, db_index=True)
    quarantined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ingest_run", "row_number"]
        constraints = [
            # A retried run never quarantines the same row twice.
            models.UniqueConstraint(
                fields=["ingest_run", "row_number"], name="quarantine_row_once_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ingest_run.key} row {self.row_number}"


class Transaction(models.Model):
    """A flagged transaction as the detector and curation service described it."""

    transaction_id = models.CharField(max_length=128, unique=True)
    account_id = models.CharField(max_length=128, db_index=True)
    occurred_at = models.DateTimeField(db_index=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    merchant = models.CharField(max_length=255, blank=True)
    merchant_category = models.CharField(max_length=4, blank=True)
    channel = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=2, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    device_id = models.CharField(max_length=128, blank=True, db_index=True)
    similarity_score = models.FloatField()
    model_version = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    embedding = VectorField(dimensions=settings.FRAUDCASE_EMBEDDING_DIM, null=True, blank=True)
    features = models.JSONField(null=True, blank=True)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="transactions")
    # Lineage: which object and row each transaction came from.
    ingest_run = models.ForeignKey(
        IngestRun, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    source_row = models.PositiveBigIntegerField(null=True, blank=True)
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="transaction_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(similarity_score__gte=0) & Q(similarity_score__lte=1),
                name="transaction_score_in_unit_range",
            ),
        ]

    def __str__(self) -> str:
        return self.transaction_id
