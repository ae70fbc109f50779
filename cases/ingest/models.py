"""Ingest bookkeeping: one run per S3 object version, and the rows it refused."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


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

    class Kind(models.TextChoices):
        # From the key's inbox prefix: flagged/ holds transactions, curation/ IP observations,
        # shadow/ a candidate model's scores of the same transactions.
        FLAGGED = "flagged", "Flagged transactions"
        CURATION = "curation", "Curation records"
        SHADOW = "shadow", "Shadow scores"

    bucket = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FLAGGED)
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
    # Uncompressed CSV and JSON Lines: the byte offset just after the last committed row and
    # the lines up to it, where an interrupted run resumes (a ranged GET); None for gzip (which
    # cannot seek: read again and skipped) and Parquet (resumed at the row group holding the
    # first row not read, from rows_read).
    resume_offset = models.PositiveBigIntegerField(null=True, blank=True)
    resume_line = models.PositiveBigIntegerField(default=0)
    cases_opened = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="times a worker took the run (capped: FRAUDCASE_INGEST_MAX_ATTEMPTS)"
    )
    # attempts when an operator last re-ran it: the cap counts the attempts since.
    attempts_at_rerun = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # The worker's lease (cases/ingest/lease.py): who holds the run, and its last sign of
    # progress (claimed, a chunk committed, queued again), by the database's clock. A run
    # stops being held when its heartbeat is older than FRAUDCASE_INGEST_STALE_SECONDS.
    claimed_by = models.CharField(max_length=128, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Failed because S3 was unreachable: beat queues it again at this time (None: it waits
    # for an operator).
    retry_at = models.DateTimeField(null=True, blank=True)
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


class InboxCursor(models.Model):
    """Where the inbox scan of one (bucket, prefix) resumes listing: after start_after.

    S3 lists keys in lexical (UTF-8 byte) order, so asking only for the keys after the last
    one seen (ListObjectsV2's StartAfter) finds everything uploaded under a later-sorting key
    without listing every object ever uploaded, every minute. A key that sorts before the
    cursor (uploaded late under an earlier name, or a new version of a key already seen) is
    found by the full rescan, every FRAUDCASE_INBOX_FULL_RESCAN_SECONDS (full_scan_at, the
    database's clock). Keys named in time order never wait for it (docs/contract.md).
    """

    bucket = models.CharField(max_length=63)
    prefix = models.CharField(max_length=1024)
    start_after = models.CharField(max_length=1024, blank=True)
    full_scan_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "prefix"], name="inbox_cursor_per_prefix"),
        ]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} after {self.start_after!r}"
