"""Reads for the cases app."""

from django.db.models import Count, Q

from cases.models import (
    FINISHED_CASE_STATUSES,
    Case,
    CaseStatus,
    IngestRun,
    QuarantinedRow,
    Transaction,
)


def overview() -> dict:
    """Counts for the landing page: open cases by status, transactions, recent ingest runs."""
    case_counts = Case.objects.aggregate(
        open_cases=Count("id", filter=~Q(status__in=FINISHED_CASE_STATUSES)),
        closed_cases=Count("id", filter=Q(status=CaseStatus.CLOSED)),
    )
    return {
        **case_counts,
        "transactions": Transaction.objects.count(),
        "quarantined_rows": QuarantinedRow.objects.count(),
        "top_cases": top_open_cases(limit=10),
        "runs": recent_ingest_runs(limit=10),
    }


def top_open_cases(*, limit: int = 10):
    """Open cases, highest priority first (ties: oldest first)."""
    return (
        Case.objects.exclude(status__in=FINISHED_CASE_STATUSES)
        .order_by("-priority", "opened_at")
        .only(
            "id", "account_id", "status", "priority", "max_similarity_score", "worst_outcome",
            "amount_at_risk", "transaction_count", "opened_at",
        )[:limit]
    )  # fmt: skip


UNFINISHED = (IngestRun.Status.QUEUED, IngestRun.Status.RUNNING)


def recent_ingest_runs(*, limit: int = 50):
    return IngestRun.objects.order_by("-created_at")[:limit]
