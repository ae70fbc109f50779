"""Cases and the flagged transactions they group."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from cases.errors import InvalidInput

REFERENCE_PREFIX = "FC-"


def parse_case_reference(reference: str | int) -> int:
    """FC-000123, 000123 or 123 -> 123; anything else is refused."""
    text = str(reference).strip().upper().removeprefix(REFERENCE_PREFIX)
    if not text.isdecimal():  # isdigit() also passes "²", which int() refuses
        raise InvalidInput(f"{reference!r} is not a case reference like {REFERENCE_PREFIX}000123")
    return int(text)


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
    # Folded into another case by a lead: kept as a pointer to where its work went.
    MERGED = "merged", "Merged"


# A case in one of these states is no longer the account's open case.
FINISHED_CASE_STATUSES = (CaseStatus.CLOSED, CaseStatus.MERGED)


class Resolution(models.TextChoices):
    CONFIRMED_FRAUD = "confirmed_fraud", "Confirmed fraud"
    FALSE_POSITIVE = "false_positive", "False positive"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class Label(models.TextChoices):
    """An analyst's truth about one transaction: what retraining learns from."""

    FRAUD = "fraud", "Fraud"
    LEGITIMATE = "legitimate", "Legitimate"


class Case(models.Model):
    """An account's flagged transactions under investigation.

    The reference (FC-000123) is derived from the primary key, so it can never disagree with it.
    The aggregate columns are kept by services when transactions join, so the queue can sort
    on them without scanning transactions.
    """

    # Indexes in Meta: db_index=True adds a LIKE-pattern twin per text column, which nothing
    # here asks and every case opened or updated by ingest paid for.
    account_id = models.CharField(max_length=128)
    status = models.CharField(max_length=24, choices=CaseStatus.choices, default=CaseStatus.OPEN)
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
    # In the transactions' own units, added up whatever their currencies (kept as it was).
    amount_at_risk = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    # The same in FRAUDCASE_REPORTING_CURRENCY (cases.currency): what priority, sorting,
    # filters, routing and "at risk" use. Transactions without a rate add nothing to it and set
    # rate_missing: the case says so instead of guessing.
    # Database defaults too: ingest opens cases with a plain INSERT.
    amount_reporting = models.DecimalField(max_digits=20, decimal_places=2, default=0, db_default=0)
    rate_missing = models.BooleanField(default=False, db_default=False)
    # The transactions' currency when they share one; "" when they have several (or none yet).
    currency = models.CharField(max_length=3, blank=True, default="", db_default="")
    transaction_count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    queue = models.ForeignKey(
        "cases.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
    )
    due_at = models.DateTimeField(null=True, blank=True, help_text="from the queue's SLA")
    # While waiting on the customer: when their reply is due (a reminder goes out after it).
    waiting_until = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency: every change bumps it; a change made against an older one is refused.
    version = models.PositiveIntegerField(default=1)
    resolution = models.CharField(max_length=24, choices=Resolution.choices, blank=True)
    reason_codes = models.ManyToManyField("cases.ReasonCode", blank=True, related_name="cases")
    closing_comment = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_cases"
    )
    tags = models.ManyToManyField("cases.Tag", blank=True, related_name="cases")
    # What the nearest labelled transactions say (cases/services/similarity.py): null until
    # there is a labelled neighbour to compare with. A queue column, a sort key, and part of
    # the priority.
    neighbour_fraud_score = models.FloatField(
        null=True, blank=True, help_text="0-1: fraud among the nearest labelled, by similarity"
    )
    neighbour_summary = models.JSONField(null=True, blank=True)

    class Meta:
        permissions = [
            ("work_case", "Work cases in own queues"),
            ("work_any_case", "Work cases in any queue"),
            ("assign_case", "Assign cases to others"),
            ("reopen_case", "Reopen closed cases"),
            ("merge_case", "Merge cases"),
            ("manage_queues", "Manage queues and reason codes"),
            ("release_labels", "Release held labels"),
            ("view_audit", "Read the audit trail"),
            ("export_audit", "Export the audit trail"),
            ("manage_users", "Create users and change their roles"),
            ("rerun_ingest", "Re-run failed ingest runs"),
            ("sync_cases", "Read every case over the REST API (service accounts)"),
            ("submit_flags", "Submit flagged transactions and start ingest runs over the API"),
            ("view_team_analytics", "See the team's dashboards (analysts see their own figures)"),
        ]
        constraints = [
            # Ingest attaches an account's transactions to its one open case; two workers
            # racing to open one for the same account meet this index.
            models.UniqueConstraint(
                fields=["account_id"],
                condition=~Q(status__in=FINISHED_CASE_STATUSES),
                name="one_open_case_per_account",
            ),
            models.CheckConstraint(
                condition=Q(priority__lte=100), name="case_priority_at_most_100"
            ),
        ]
        indexes = [
            models.Index(fields=["account_id"], name="case_account_idx"),
            # The API's sync order: what changed since a time, page by page (cursor).
            models.Index(fields=["updated_at", "id"], name="case_changed_idx"),
            # Also the index for status alone (its leading column).
            models.Index(fields=["status", "-priority"], name="case_queue_idx"),
            # The triage queue reads open cases only, by priority or by SLA, per queue/assignee.
            models.Index(
                models.F("priority").desc(), "opened_at", "id",
                condition=~Q(status__in=FINISHED_CASE_STATUSES), name="case_open_priority_idx",
            ),
            models.Index(
                "due_at", "opened_at", "id",
                condition=~Q(status__in=FINISHED_CASE_STATUSES), name="case_open_due_idx",
            ),
            models.Index(
                "queue", "assignee",
                condition=~Q(status__in=FINISHED_CASE_STATUSES), name="case_open_queue_assignee_idx",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.reference} ({self.account_id})"

    @property
    def reporting_currency(self) -> str:
        """What amount_reporting is in (FRAUDCASE_REPORTING_CURRENCY), for the pages."""
        return settings.FRAUDCASE_REPORTING_CURRENCY

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.pk:06d}" if self.pk else ""


LABELLED = ~Q(label="")


def hnsw_cosine_index(name: str, field: str = "embedding", **kwargs) -> HnswIndex:
    """An HNSW index for cosine distance built with the configured m and ef_construction."""
    return HnswIndex(
        fields=[field],
        name=name,
        opclasses=["vector_cosine_ops"],
        m=settings.FRAUDCASE_HNSW_M,
        ef_construction=settings.FRAUDCASE_HNSW_EF_CONSTRUCTION,
        **kwargs,
    )


class Transaction(models.Model):
    """A flagged transaction as the detector and curation service described it."""

    # Plain btree indexes declared in Meta, not unique=True / db_index=True on the fields: on
    # PostgreSQL those add a second, varchar_pattern_ops index for LIKE 'x%' per column, which
    # nothing here asks and every ingested row paid for.
    transaction_id = models.CharField(max_length=128)
    account_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField(db_index=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    # amount in FRAUDCASE_REPORTING_CURRENCY at the rate of its day; null: no rate known.
    amount_reporting = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    merchant = models.CharField(max_length=255, blank=True)
    merchant_category = models.CharField(max_length=4, blank=True)
    channel = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=2, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    device_id = models.CharField(max_length=128, blank=True)
    similarity_score = models.FloatField()
    model_version = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    embedding = VectorField(dimensions=settings.FRAUDCASE_EMBEDDING_DIM, null=True, blank=True)
    features = models.JSONField(null=True, blank=True)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="transactions")
    # Lineage: which object and row each transaction came from.
    ingest_run = models.ForeignKey(
        "cases.IngestRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
    )
    source_row = models.PositiveBigIntegerField(null=True, blank=True)
    ingested_at = models.DateTimeField(default=timezone.now)
    # The analyst's decision on the transaction and truth label, with who and when.
    # Database defaults too: ingest COPYs rows without these columns.
    decision = models.CharField(max_length=16, choices=Outcome.choices, blank=True, db_default="")
    # Who decided / labelled: no index and no database-level check (users are deactivated,
    # not deleted, and the audit trail keeps the record): both cost on every ingested row.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False, db_constraint=False,
    )  # fmt: skip
    decided_at = models.DateTimeField(null=True, blank=True)
    label = models.CharField(max_length=16, choices=Label.choices, blank=True, db_default="")
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False, db_constraint=False,
    )  # fmt: skip
    labelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The name PostgreSQL gave the former unique=True: ingest recognises races by it.
            models.UniqueConstraint(
                fields=["transaction_id"], name="cases_transaction_transaction_id_key"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="transaction_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(similarity_score__gte=0) & Q(similarity_score__lte=1),
                name="transaction_score_in_unit_range",
            ),
        ]
        indexes = [
            models.Index(fields=["account_id"], name="transaction_account_idx"),
            models.Index(fields=["device_id"], name="transaction_device_idx"),
            # The graph of every embedding lives on IndexedEmbedding, off the insert path.
            # Labelled rows are a few percent: a filter on them after the full index's scan
            # would starve, so they get a graph of their own.
            hnsw_cosine_index("transaction_labelled_hnsw", condition=LABELLED),
            # Counts and exact scans of labelled rows (in a time window) without a table scan.
            models.Index(
                fields=["occurred_at"], condition=LABELLED, name="transaction_labelled_time_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.transaction_id

    @property
    def reporting_currency(self) -> str:
        return settings.FRAUDCASE_REPORTING_CURRENCY
