"""Small built datasets for the analytics tests: labelled transactions with exact numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

from cases.models import Case, LabelVersion, Transaction

_numbers = count(1)


def labelled_transaction(
    *,
    score: float,
    label: str,
    outcome: str = "",
    model: str = "m1",
    neighbour: float | None = None,
    occurred_at: datetime | None = None,
    delay: timedelta = timedelta(hours=2),
    analyst=None,
    amount: str = "100.00",
    currency: str = "EUR",
    country: str = "DE",
    decision: str = "",
    case: Case | None = None,
) -> Transaction:
    """A transaction labelled the way the label service leaves it: a pending label version
    (with the neighbour verdict's share), then Transaction.label (the trigger writes the fact)."""
    number = next(_numbers)
    occurred_at = occurred_at or datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    case = case or Case.objects.create(account_id=f"acc_b{number}")
    tx = Transaction.objects.create(
        transaction_id=f"tx_b{number}", account_id=case.account_id, occurred_at=occurred_at,
        amount=Decimal(amount), currency=currency, country=country, similarity_score=score,
        model_version=model, outcome=outcome, case=case,
    )  # fmt: skip
    if label:
        LabelVersion.objects.create(
            transaction=tx, version=1, label=label, analyst=analyst, analyst_pseudonym="an_x",
            case=case, decided_at=occurred_at + delay, why="analyst", model_version=model,
            similarity_score=score, detector_outcome=outcome, neighbour_fraud_share=neighbour,
            status="pending",
        )  # fmt: skip
        Transaction.objects.filter(pk=tx.pk).update(
            label=label, labelled_at=occurred_at + delay, labelled_by=analyst, decision=decision
        )
    return tx


# (score, label, detector outcome, neighbour share): ten labels of model m1.
QUALITY_ROWS = [
    (0.95, "fraud", "block", 0.9),
    (0.90, "fraud", "block", 0.6),
    (0.85, "legitimate", "block", 0.7),
    (0.80, "fraud", "block", None),
    (0.70, "legitimate", "investigate", 0.1),
    (0.60, "fraud", "investigate", 0.3),
    (0.50, "legitimate", "investigate", None),
    (0.40, "legitimate", "approve", 0.5),
    (0.30, "fraud", "approve", 0.8),
    (0.20, "legitimate", "approve", 0.0),
]


def quality_dataset(analyst=None) -> None:
    for index, (score, label, outcome, neighbour) in enumerate(QUALITY_ROWS):
        labelled_transaction(
            score=score, label=label, outcome=outcome, neighbour=neighbour, analyst=analyst,
            delay=timedelta(hours=[0.5, 2, 10, 30, 100][index % 5]),
        )  # fmt: skip
    # Another model version, and a label outside the range (2026-10-01).
    labelled_transaction(score=0.9, label="fraud", outcome="block", model="m2")
    labelled_transaction(score=0.1, label="legitimate", outcome="approve", model="m2")
    labelled_transaction(
        score=0.99, label="legitimate", outcome="block",
        occurred_at=datetime(2026, 10, 1, tzinfo=UTC),
    )  # fmt: skip


def shadow_scores(model: str, scores: dict[str, tuple[float, str]]) -> None:
    """A shadow model's scores, as ingest stores them from a shadow/ file: {transaction id
    text: (score, outcome)}; linked to their transaction when it is in and of another model
    version (ingest quarantines a score of the transaction's own version, the builder keeps it
    unlinked, as when its transaction came after it)."""
    from cases.models import IngestRun, ShadowScore, Transaction

    run = IngestRun.objects.create(
        bucket="inbox", key=f"shadow/{model}-{next(_numbers)}.jsonl", etag="e", kind="shadow"
    )
    pks = dict(
        Transaction.objects.filter(transaction_id__in=scores)
        .exclude(model_version=model)
        .values_list("transaction_id", "pk")
    )
    ShadowScore.objects.bulk_create(
        ShadowScore(transaction_id=tx_id, model_version=model, similarity_score=score,
                    outcome=outcome, ingest_run=run, source_row=row,
                    transaction_pk=pks.get(tx_id))
        for row, (tx_id, (score, outcome)) in enumerate(scores.items(), start=1)
    )  # fmt: skip
