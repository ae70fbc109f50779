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
from cases.policies import visible_cases


def overview(*, viewer) -> dict:
    """Counts for the overview page as viewer may see them: their cases open and closed, the
    top open ones, all transactions and quarantined rows (counts only), recent ingest runs."""
    case_counts = visible_cases(viewer).aggregate(
        open_cases=Count("id", filter=~Q(status__in=FINISHED_CASE_STATUSES)),
        closed_cases=Count("id", filter=Q(status=CaseStatus.CLOSED)),
    )
    return {
        **case_counts,
        "transactions": Transaction.objects.count(),
        "quarantined_rows": QuarantinedRow.objects.count(),
        "top_cases": top_open_cases(visible_cases(viewer), limit=10),
        "runs": recent_ingest_runs(limit=10),
    }


def top_open_cases(cases, *, limit: int = 10):
    """Open cases of the given ones, highest priority first (ties: oldest first)."""
    return (
        cases.exclude(status__in=FINISHED_CASE_STATUSES)
        .order_by("-priority", "opened_at")
        .only(
            "id", "account_id", "status", "priority", "max_similarity_score", "worst_outcome",
            "amount_at_risk", "transaction_count", "opened_at",
        )[:limit]
    )  # fmt: skip


UNFINISHED = (IngestRun.Status.QUEUED, IngestRun.Status.RUNNING)


def recent_ingest_runs(*, limit: int = 50):
    return IngestRun.objects.order_by("-created_at")[:limit]


def related_cases(case: Case, *, limit: int = 50) -> list[dict]:
    """Other cases sharing a pivot with this one: the same account, source IP or device.

    Each entry: the case and the pivots it shares (e.g. {"source_ip": ["81.2.69.1"]}),
    most shared pivots first, then highest priority. Merged cases are left out.
    """
    mine = Transaction.objects.filter(case=case)
    ips = set(mine.exclude(source_ip=None).values_list("source_ip", flat=True))
    devices = set(mine.exclude(device_id="").values_list("device_id", flat=True))
    shared: dict[int, dict[str, set[str]]] = {}
    pivots = (
        ("source_ip", Q(source_ip__in=ips), ips),
        ("device_id", Q(device_id__in=devices), devices),
        ("account_id", Q(account_id=case.account_id), {case.account_id}),
    )
    for pivot, condition, values in pivots:
        if not values:
            continue
        rows = (
            Transaction.objects.filter(condition)
            .exclude(case=case)
            .exclude(case__status=CaseStatus.MERGED)
            .values_list("case_id", pivot)
            .distinct()[: limit * 20]
        )
        for case_id, value in rows:
            shared.setdefault(case_id, {}).setdefault(pivot, set()).add(str(value))
    cases = Case.objects.in_bulk(list(shared))
    ranked = sorted(
        shared.items(),
        key=lambda item: (
            -sum(len(v) for v in item[1].values()),
            -cases[item[0]].priority,
            item[0],
        ),
    )
    return [
        {
            "case": cases[case_id],
            "shared": {pivot: sorted(values) for pivot, values in pivots_.items()},
        }
        for case_id, pivots_ in ranked[:limit]
    ]
