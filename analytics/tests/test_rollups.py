"""The ingest rollups: folded in per chunk by the real ingest path, equal to a rebuild from the
transactions table, and the label facts kept by the trigger through the label services."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from analytics.models import (
    BatchRollup,
    CategoryRollup,
    CurrencyRollup,
    FeatureRollup,
    LabelFact,
)
from analytics.rollups import rollups_rebuild
from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import Transaction
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow import services
from conftest import contract_row, put_file

pytestmark = pytest.mark.django_db


class Approx(float):
    """A float sum equal to another up to its summation order (chunked vs all at once): exact
    rounding of both would flake when a sum falls on a rounding boundary."""

    def __eq__(self, other) -> bool:
        return math.isclose(self, other, rel_tol=1e-9, abs_tol=1e-6)

    __hash__ = float.__hash__


def snapshot():
    batches = sorted(
        (r.run_id, r.day, r.model_version, r.transactions, Approx(r.score_sum),
         r.approve, r.investigate, r.block, r.no_outcome, tuple(r.score_histogram), r.embeddings,
         tuple(Approx(x) for x in r.embedding_sum))
        for r in BatchRollup.objects.all()
    )  # fmt: skip
    features = sorted(
        (r.run_id, r.day, r.feature, r.values, Approx(r.total), Approx(r.squares),
         tuple(r.histogram))
        for r in FeatureRollup.objects.all()
    )  # fmt: skip
    categories = sorted(
        CategoryRollup.objects.values_list("run_id", "day", "dimension", "value", "transactions")
    )
    currencies = sorted(
        CurrencyRollup.objects.values_list("run_id", "day", "currency", "transactions", "amount")
    )
    return batches, features, categories, currencies


def test_ingest_folds_each_chunk_into_the_rollups_as_a_rebuild_would(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 7  # several chunks, a day split across them
    start = datetime(2026, 11, 1, 22, 0, tzinfo=UTC)
    rows = [
        contract_row(i, occurred_at=start + timedelta(minutes=17 * i), country="DE" if i % 4 else "FR",
                     model_version="m1" if i % 5 else "m2", currency="USD" if i % 3 else "EUR",
                     features={"log_amount": -5 + i * 0.37, "night": float(i % 2)})
        for i in range(30)
    ]  # fmt: skip
    del rows[3]["embedding"]  # one without an embedding
    put_file(s3, bucket, "flagged/a.jsonl", encode_rows(rows, "jsonl"))
    (run_id,) = ingest_services.inbox_scan(bucket=bucket)
    run = ingest_services.ingest_run_execute(run_id=run_id)
    assert run.rows_loaded == 30

    folded = snapshot()
    assert sum(r[3] for r in folded[0]) == 30
    assert sum(r[10] for r in folded[0]) == 29  # embeddings
    by_day = {(r[1], r[2]): r[3] for r in folded[0]}
    assert by_day[(datetime(2026, 11, 1).date(), "m1")] == 6  # 22:00 to 23:59: 8, rows 0 and 5 m2
    assert {r[2] for r in folded[1]} == {"log_amount", "night"}
    assert sum(r[4] for r in folded[2] if r[2] == "country" and r[3] == "FR") == 8
    by_currency = {(day, currency): n for _, day, currency, n, _ in folded[3]}
    assert sum(n for (_, c), n in by_currency.items() if c == "EUR") == 10  # every third row
    assert sum(r[4] for r in folded[3]) == sum(Transaction.objects.values_list("amount", flat=True))

    rollups_rebuild()
    assert snapshot() == folded


def test_label_facts_follow_the_labels_whatever_changes_them():
    analyst = make_user("ana", "analyst")
    queue = make_queue("General", analyst)
    case = make_case(queue, transactions=2)
    first, second = case.transactions.order_by("pk")

    services.transaction_label(actor=analyst, transaction_id=first.transaction_id, label="fraud")
    fact = LabelFact.objects.get()
    assert (fact.transaction_id, fact.label, fact.labelled_by_id, fact.score, fact.outcome) == (
        first.pk,
        "fraud",
        analyst.pk,
        first.similarity_score,
        "investigate",
    )

    services.transaction_label(
        actor=analyst, transaction_id=first.transaction_id, label="legitimate"
    )
    Transaction.objects.filter(pk=second.pk).update(label="fraud", labelled_at=datetime.now(UTC))
    assert dict(LabelFact.objects.values_list("transaction_id", "label")) == {
        first.pk: "legitimate",
        second.pk: "fraud",
    }
    Transaction.objects.filter(pk=second.pk).update(label="")
    assert list(LabelFact.objects.values_list("transaction_id", flat=True)) == [first.pk]

    before = list(LabelFact.objects.values_list("transaction_id", "label", "labelled_at"))
    LabelFact.objects.all().delete()
    rollups_rebuild()
    assert list(LabelFact.objects.values_list("transaction_id", "label", "labelled_at")) == before
