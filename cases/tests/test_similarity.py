"""Nearest-neighbour lookups on hand-built vectors whose right answers are known.

Vectors are unit axes of the 384-dim space tilted towards another axis: the cosine
similarity of e0 and e0 + t*e1 is 1 / sqrt(1 + t^2), so every expected number below is exact.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DataError, connection, transaction
from django.template.loader import render_to_string

from cases.errors import InvalidInput
from cases.fileformats import encode_rows
from cases.ingest.case_opening import case_priority, cases_refresh_priority
from cases.models import Case, CaseStatus, Transaction
from cases.similarity.index_builds import GRAPH_FILL_LOCK, similarity_index_rebuild
from cases.similarity.models import CaseCentroid, EmbeddingBacklog, IndexedEmbedding
from cases.similarity.selectors import (
    NO_EMBEDDING_CASE,
    NO_EMBEDDING_TRANSACTION,
    NeighbourVerdict,
    case_neighbour_verdict,
    similar_cases,
    similar_transactions_for_case,
    similar_transactions_for_transaction,
)
from cases.similarity.services import (
    cases_refresh_neighbour_verdict,
    similarity_graph_refresh,
    similarity_index_catch_up,
)
from cases.tests.workflow_fixtures import make_case
from conftest import contract_row, put_file, wait_until

pytestmark = pytest.mark.django_db

DIM = settings.FRAUDCASE_EMBEDDING_DIM
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def tilted(axis: int, towards: int | None = None, by: float = 0.0) -> np.ndarray:
    """The unit axis `axis`, tilted by `by` towards axis `towards`."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[axis] = 1.0
    if towards is not None:
        vector[towards] = by
    return vector


def similarity_of(by: float) -> float:
    return 1 / math.sqrt(1 + by * by)


def add_tx(case: Case, name: str, embedding, *, label: str = "", account_id=None, at=T0, **fields):
    return Transaction.objects.create(
        transaction_id=name, account_id=account_id or case.account_id, occurred_at=at,
        amount=Decimal("25.00"), currency="EUR", merchant=fields.pop("merchant", "Shop"),
        similarity_score=fields.pop("similarity_score", 0.5), model_version="m1",
        outcome=fields.pop("outcome", "investigate"), embedding=embedding, label=label, case=case,
        **fields,
    )  # fmt: skip


def empty_case(**fields) -> Case:
    return make_case(transactions=0, **fields)


def names(neighbours) -> list[str]:
    return [neighbour.transaction_id for neighbour in neighbours]


# --- similar transactions ---------------------------------------------------------------------


def test_neighbours_come_most_similar_first_with_their_case_and_label():
    mine = empty_case()
    query = add_tx(mine, "query", tilted(0))
    other = empty_case(status=CaseStatus.CLOSED, resolution="confirmed_fraud")
    add_tx(other, "near", tilted(0, 1, 0.1), label="fraud", merchant="Near <b>Shop</b>")
    add_tx(other, "middle", tilted(0, 2, 0.5))
    add_tx(other, "far", tilted(0, 3, 1.0), label="legitimate")
    add_tx(other, "opposite", -tilted(0))
    add_tx(other, "no-embedding", None)

    result = similar_transactions_for_transaction(query, k=3)

    assert result.has_embedding and result.message == ""
    assert names(result.neighbours) == ["near", "middle", "far"]
    assert [n.similarity for n in result.neighbours] == pytest.approx(
        [similarity_of(0.1), similarity_of(0.5), similarity_of(1.0)], abs=1e-6
    )
    near = result.neighbours[0]
    assert (near.label_text, near.case_reference, near.case_resolution_text) == (
        "Fraud", other.reference, "Confirmed fraud",
    )  # fmt: skip
    assert (near.amount, near.currency, near.merchant, near.account_id, near.occurred_at) == (
        Decimal("25.00"), "EUR", "Near <b>Shop</b>", other.account_id, T0,
    )  # fmt: skip
    assert [n.label_text for n in result.neighbours] == ["Fraud", "Not yet labelled", "Legitimate"]


def test_all_neighbours_up_to_k_and_the_opposite_one_last():
    mine = empty_case()
    query = add_tx(mine, "query", tilted(0))
    add_tx(mine, "near", tilted(0, 1, 0.2))
    add_tx(mine, "opposite", -tilted(0))

    result = similar_transactions_for_transaction(query, k=100)

    assert names(result.neighbours) == ["near", "opposite"]  # never the query itself
    assert result.neighbours[1].similarity == pytest.approx(-1.0, abs=1e-6)


def test_only_labelled_returns_k_labelled_rows_past_many_nearer_unlabelled_ones():
    mine = empty_case()
    query = add_tx(mine, "query", tilted(0))
    crowd = empty_case()
    Transaction.objects.bulk_create(
        Transaction(
            transaction_id=f"unlabelled-{i}", account_id=crowd.account_id, occurred_at=T0,
            amount=Decimal(1), currency="EUR", similarity_score=0.5, model_version="m1",
            embedding=tilted(0, 1 + i % 300, 0.01 + i / 10_000), case=crowd,
        )
        for i in range(300)
    )  # fmt: skip
    labelled = empty_case()
    for i, by in enumerate((0.6, 0.7, 0.8, 0.9, 1.1)):
        add_tx(labelled, f"labelled-{i}", tilted(0, 301 + i, by), label="fraud")

    result = similar_transactions_for_transaction(query, k=5, only_labelled=True)

    assert names(result.neighbours) == [f"labelled-{i}" for i in range(5)]
    assert all(n.label == "fraud" for n in result.neighbours)


def test_exclude_same_account_leaves_out_the_accounts_other_cases_too():
    mine = empty_case(account_id="acc-me", status=CaseStatus.CLOSED)
    query = add_tx(mine, "query", tilted(0))
    my_later_case = empty_case(account_id="acc-me")
    add_tx(my_later_case, "mine-near", tilted(0, 1, 0.05))
    stranger = empty_case(account_id="acc-stranger")
    add_tx(stranger, "stranger-1", tilted(0, 2, 0.4))
    add_tx(stranger, "stranger-2", tilted(0, 3, 0.6))

    everyone = similar_transactions_for_transaction(query, k=2)
    strangers = similar_transactions_for_transaction(query, k=2, exclude_same_account=True)

    assert names(everyone.neighbours) == ["mine-near", "stranger-1"]
    assert names(strangers.neighbours) == ["stranger-1", "stranger-2"]


def test_time_window_keeps_only_transactions_inside_it():
    mine = empty_case()
    query = add_tx(mine, "query", tilted(0))
    other = empty_case()
    add_tx(other, "before", tilted(0, 1, 0.1), at=T0 - timedelta(days=3))
    add_tx(other, "inside-near", tilted(0, 2, 0.3), at=T0)
    add_tx(other, "inside-far", tilted(0, 3, 0.9), at=T0 + timedelta(hours=23))
    add_tx(other, "at-the-end", tilted(0, 4, 0.2), at=T0 + timedelta(days=1))

    result = similar_transactions_for_transaction(
        query, k=10, occurred_after=T0 - timedelta(days=1), occurred_before=T0 + timedelta(days=1)
    )

    assert names(result.neighbours) == ["inside-near", "inside-far"]
    assert result.plan.method == "exact"  # a small window is scanned exactly


def test_a_starved_index_search_widens_then_falls_back_to_an_exact_scan(settings):
    """ef_search 1 and no exact-first window: the index hands over near rows the window
    filters out; the lookup must widen, and when fewer than k exist settle it exactly."""
    settings.FRAUDCASE_HNSW_EF_SEARCH = 1
    settings.FRAUDCASE_KNN_EXACT_SCAN_MAX_ROWS = 0
    mine = empty_case()
    query = add_tx(mine, "query", tilted(0), at=T0 - timedelta(days=10))
    crowd = empty_case()
    Transaction.objects.bulk_create(
        Transaction(
            transaction_id=f"old-{i}", account_id=crowd.account_id,
            occurred_at=T0 - timedelta(days=10), amount=Decimal(1), currency="EUR",
            similarity_score=0.5, model_version="m1",
            embedding=tilted(0, 1 + i % 300, 0.01 + i / 10_000), case=crowd,
        )
        for i in range(1200)
    )  # fmt: skip
    recent = empty_case()
    for i, by in enumerate((0.5, 0.8, 1.2)):
        add_tx(recent, f"recent-{i}", tilted(0, 301 + i, by), at=T0)
    window = {"occurred_after": T0 - timedelta(days=1)}
    similarity_index_catch_up()  # the graph holds them all, as it does once the worker is done

    three = similar_transactions_for_transaction(query, k=3, **window)
    all_there_are = similar_transactions_for_transaction(query, k=5, **window)

    assert names(three.neighbours) == ["recent-0", "recent-1", "recent-2"]
    assert three.plan.attempts > 1
    assert names(all_there_are.neighbours) == ["recent-0", "recent-1", "recent-2"]
    assert (all_there_are.plan.method, all_there_are.plan.ef_search) == ("exact", 1000)
    with connection.cursor() as cursor:  # inside the test's transaction: put back, not leaked
        cursor.execute("SELECT current_setting('enable_indexscan')")
        assert cursor.fetchone()[0] == "on"


def test_a_transaction_without_embedding_says_so():
    case = make_case(transactions=1)
    tx = case.transactions.get()

    result = similar_transactions_for_transaction(tx)

    assert (result.has_embedding, result.neighbours, result.message) == (
        False, [], NO_EMBEDDING_TRANSACTION,
    )  # fmt: skip


def test_a_case_without_any_embedding_says_so_everywhere():
    case = make_case(transactions=2)

    assert similar_transactions_for_case(case).message == NO_EMBEDDING_CASE
    assert similar_cases(case).message == NO_EMBEDDING_CASE
    assert case_neighbour_verdict(case) is None
    cases_refresh_neighbour_verdict(case_ids=[case.pk])
    case.refresh_from_db()
    assert (case.neighbour_fraud_score, case.neighbour_summary) == (None, None)


def test_the_table_refuses_an_embedding_of_the_wrong_dimension():
    case = empty_case()
    with pytest.raises(DataError, match="expected 384 dimensions, not 3"), transaction.atomic():
        add_tx(case, "short", [1.0, 0.0, 0.0])
    assert not Transaction.objects.filter(transaction_id="short").exists()


def test_k_is_between_1_and_100():
    case = empty_case()
    query = add_tx(case, "query", tilted(0))
    with pytest.raises(InvalidInput, match="between 1 and 100"):
        similar_transactions_for_transaction(query, k=101)
    with pytest.raises(InvalidInput):
        similar_transactions_for_transaction(query, k=0)


def test_case_lookup_uses_the_centroid_and_leaves_out_the_cases_own_transactions():
    mine = empty_case()
    add_tx(mine, "mine-a", tilted(0, 1, 1.0))  # centroid of these two: e0 + 0.5 e1 + 0.5 e2
    add_tx(mine, "mine-b", tilted(0, 2, 1.0))
    other = empty_case()
    add_tx(other, "between", tilted(0, 1, 0.5) + tilted(2) * 0.5)
    add_tx(other, "axis", tilted(0))
    add_tx(other, "off", tilted(3))

    result = similar_transactions_for_case(mine, k=10)

    assert names(result.neighbours) == ["between", "axis", "off"]
    assert result.neighbours[0].similarity == pytest.approx(1.0, abs=1e-6)
    assert result.neighbours[1].similarity == pytest.approx(1 / math.sqrt(1.5), abs=1e-6)


# --- the neighbour verdict --------------------------------------------------------------------


def test_verdict_maths_from_similarities_and_labels():
    verdict = NeighbourVerdict.from_neighbours(
        [(0.9, "fraud"), (0.8, "legitimate"), (0.6, "fraud"), (-0.5, "fraud")], k=10
    )

    assert (verdict.labelled, verdict.fraud, verdict.top_similarity) == (4, 3, 0.9)
    assert verdict.fraud_share == pytest.approx(1.5 / 2.3)  # a negative similarity weighs 0
    assert verdict.fraud_score == pytest.approx(0.15)  # (0.9 + 0.6) / k
    assert verdict.sentence == "3 of 4 nearest labelled neighbours were fraud, most similar 0.90"
    assert NeighbourVerdict.from_summary(verdict.as_summary()) == verdict
    single = NeighbourVerdict.from_neighbours([(0.97, "fraud")], k=10)
    assert single.sentence == "1 of 1 nearest labelled neighbour was fraud, most similar 0.97"
    nothing = NeighbourVerdict.from_neighbours([], k=10)
    assert (nothing.fraud_score, nothing.sentence) == (
        None, "No labelled transactions to compare with yet.",
    )  # fmt: skip


def test_case_verdict_weighs_the_nearest_labelled_of_other_cases():
    mine = empty_case()
    add_tx(mine, "mine", tilted(0), label="fraud")  # its own label would only echo itself
    other = empty_case()
    add_tx(other, "fraud-1", tilted(0, 1, 0.1), label="fraud")
    add_tx(other, "fraud-2", tilted(0, 2, 0.3), label="fraud")
    add_tx(other, "legit", tilted(0, 3, 0.5), label="legitimate")
    add_tx(other, "unlabelled", tilted(0, 4, 0.05))

    verdict = case_neighbour_verdict(mine, k=10)

    fraud_weight = similarity_of(0.1) + similarity_of(0.3)
    assert (verdict.k, verdict.labelled, verdict.fraud) == (10, 3, 2)
    assert verdict.top_similarity == pytest.approx(similarity_of(0.1), abs=1e-6)
    assert verdict.fraud_share == pytest.approx(
        fraud_weight / (fraud_weight + similarity_of(0.5)), abs=1e-6
    )
    assert verdict.fraud_score == pytest.approx(fraud_weight / 10, abs=1e-6)
    assert verdict.sentence == "2 of 3 nearest labelled neighbours were fraud, most similar 1.00"


def test_k_nearest_labelled_only_the_k_count():
    mine = empty_case()
    add_tx(mine, "mine", tilted(0))
    other = empty_case()
    for i, by in enumerate((0.1, 0.2, 0.3)):
        add_tx(other, f"fraud-{i}", tilted(0, 1 + i, by), label="fraud")
    add_tx(other, "legit-far", tilted(0, 9, 2.0), label="legitimate")

    verdict = case_neighbour_verdict(mine, k=3)

    assert (verdict.labelled, verdict.fraud) == (3, 3)
    assert verdict.fraud_share == 1.0
    assert verdict.fraud_score == pytest.approx(
        (similarity_of(0.1) + similarity_of(0.2) + similarity_of(0.3)) / 3, abs=1e-6
    )


def test_refresh_stores_the_verdict_and_adds_it_to_priority():
    mine = empty_case()
    add_tx(mine, "mine", tilted(0), similarity_score=0.8, outcome="investigate")
    lonely = empty_case()
    add_tx(lonely, "lonely", tilted(200), similarity_score=0.8, outcome="investigate")
    fraud_case = empty_case()
    for i in range(10):
        add_tx(fraud_case, f"fraud-{i}", tilted(0, 1 + i, 0.2), label="fraud")
    cases_refresh_priority(case_ids=[mine.pk, lonely.pk])
    mine.refresh_from_db()
    before = mine.priority

    changed = cases_refresh_neighbour_verdict(case_ids=[mine.pk, lonely.pk])

    mine.refresh_from_db()
    lonely.refresh_from_db()
    score = similarity_of(0.2)  # ten fraud neighbours at this similarity: score = similarity
    assert changed == 2
    assert mine.neighbour_fraud_score == pytest.approx(score, abs=1e-6)
    assert mine.neighbour_summary["fraud"] == 10 and mine.neighbour_summary["labelled"] == 10
    base = dict(max_similarity_score=0.8, worst_outcome="investigate", amount_at_risk=Decimal(25))
    assert before == case_priority(**base) == 67  # 48 + 15 + 4.2
    assert mine.priority == case_priority(**base, neighbour_fraud_score=score) == 82  # + 14.7
    # Far from all labelled rows (similarity 0): a verdict of 0, and the priority stays.
    assert lonely.neighbour_fraud_score == 0.0
    assert lonely.priority == case_priority(**base) == 67
    assert CaseCentroid.objects.filter(case__in=[mine, lonely]).count() == 2
    # Nothing moved: nothing rewritten.
    assert cases_refresh_neighbour_verdict(case_ids=[mine.pk, lonely.pk]) == 0


def test_priority_without_neighbours_is_unchanged_and_capped_at_100():
    base = dict(max_similarity_score=0.5, worst_outcome="", amount_at_risk=Decimal(0))
    assert case_priority(**base) == case_priority(**base, neighbour_fraud_score=None) == 38
    assert case_priority(**base, neighbour_fraud_score=0.5) == 46  # 30 + 8 + 7.5
    top = dict(max_similarity_score=1.0, worst_outcome="block", amount_at_risk=Decimal(100000))
    assert case_priority(**top, neighbour_fraud_score=1.0) == 100


# --- similar cases ----------------------------------------------------------------------------


def test_similar_cases_come_nearest_centroid_first_without_merged_ones():
    mine = empty_case()
    add_tx(mine, "mine", tilted(0))
    near, middle, far = empty_case(), empty_case(), empty_case()
    add_tx(near, "near-1", tilted(0, 1, 0.1))
    add_tx(near, "near-2", tilted(0, 2, 0.1))
    add_tx(middle, "middle", tilted(0, 1, 0.7))
    add_tx(far, "far", tilted(5))
    merged = empty_case(status=CaseStatus.MERGED)
    add_tx(merged, "merged", tilted(0, 1, 0.01))
    cases_refresh_neighbour_verdict(case_ids=[near.pk, middle.pk, far.pk, merged.pk])

    result = similar_cases(mine, k=10)

    assert [c.reference for c in result.cases] == [near.reference, middle.reference, far.reference]
    # near's centroid is e0 + 0.05 e1 + 0.05 e2
    assert result.cases[0].similarity == pytest.approx(1 / math.sqrt(1.005), abs=1e-6)
    assert result.cases[2].similarity == pytest.approx(0.0, abs=1e-6)
    assert [c.reference for c in similar_cases(mine, k=1).cases] == [near.reference]


# --- the panel --------------------------------------------------------------------------------


def test_panel_lists_neighbours_with_links_escaped_and_the_verdict():
    mine = empty_case()
    query = add_tx(mine, "query", tilted(0))
    other = empty_case()
    add_tx(other, "near", tilted(0, 1, 0.2), label="fraud", merchant="<script>alert(1)</script>")
    similar = similar_transactions_for_transaction(query)
    verdict = NeighbourVerdict.from_neighbours([(0.97, "fraud")] * 9 + [(0.5, "legitimate")], k=10)

    html = render_to_string(
        "cases/_similar_transactions.html", {"similar": similar, "verdict": verdict}
    )

    assert f'<a href="/cases/{other.reference}/">{other.reference}</a>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "9 of 10 nearest labelled neighbours were fraud, most similar 0.97" in html
    assert '<th scope="col">Similarity</th>' in html and "<caption>" in html
    assert "<td>0.98</td>" in html and "Fraud" in html


def test_panel_says_plainly_when_there_is_no_embedding():
    case = make_case(transactions=1)

    html = render_to_string(
        "cases/_similar_transactions.html",
        {"similar": similar_transactions_for_case(case), "verdict": None},
    )

    assert NO_EMBEDDING_CASE in html
    assert "<table" not in html


# --- the graph over all embeddings, filled off the insert path ---------------------------------


def backlog_ids() -> set[int]:
    return set(EmbeddingBacklog.objects.values_list("transaction_id", flat=True))


def graph() -> dict[int, np.ndarray]:
    return dict(IndexedEmbedding.objects.values_list("transaction_id", "embedding"))


def test_new_embeddings_wait_in_the_backlog_until_the_worker_adds_them_to_the_graph():
    case = empty_case()
    one = add_tx(case, "one", tilted(0, 1, 0.1))
    without = add_tx(case, "without", None)
    many = Transaction.objects.bulk_create(  # one INSERT statement for all three
        Transaction(
            transaction_id=f"bulk-{i}", account_id=case.account_id, occurred_at=T0,
            amount=Decimal(1), currency="EUR", similarity_score=0.5, model_version="m1",
            embedding=tilted(0, 2 + i, 0.2 + i / 10), case=case,
        )
        for i in range(3)
    )  # fmt: skip
    expected = {one.pk, *(tx.pk for tx in many)}
    assert backlog_ids() == expected
    assert graph() == {}
    query = add_tx(empty_case(), "query", tilted(0))
    # Not in the graph yet: the index finds nothing, the exact scan of the table still does.
    before = similar_transactions_for_transaction(query, k=4)
    assert names(before.neighbours) == ["one", "bulk-0", "bulk-1", "bulk-2"]
    assert before.plan.method == "exact"

    handled = similarity_index_catch_up()

    assert handled == 5  # the four above and the query's own
    assert backlog_ids() == set()
    stored = graph()
    assert set(stored) == expected | {query.pk}
    assert without.pk not in stored
    np.testing.assert_allclose(stored[one.pk], tilted(0, 1, 0.1), rtol=1e-6)
    after = similar_transactions_for_transaction(query, k=4)
    assert names(after.neighbours) == ["one", "bulk-0", "bulk-1", "bulk-2"]
    assert after.plan.method == "hnsw", after.plan
    assert similarity_index_catch_up() == 0  # idempotent: nothing left to do


def test_a_changed_or_removed_embedding_goes_back_through_the_backlog():
    case = empty_case()
    moved = add_tx(case, "moved", tilted(0))
    dropped = add_tx(case, "dropped", tilted(1))
    similarity_index_catch_up()
    relabelled = Transaction.objects.get(pk=moved.pk)
    relabelled.label = "fraud"
    relabelled.save(update_fields=["label"])
    assert backlog_ids() == set()  # a label change does not touch the graph

    Transaction.objects.filter(pk=moved.pk).update(embedding=tilted(2))
    Transaction.objects.filter(pk=dropped.pk).update(embedding=None)
    assert backlog_ids() == {moved.pk, dropped.pk}
    similarity_index_catch_up()

    stored = graph()
    assert set(stored) == {moved.pk}
    np.testing.assert_allclose(stored[moved.pk], tilted(2), rtol=1e-6)


def test_an_interrupted_catch_up_puts_its_batch_back():
    case = empty_case()
    for i in range(3):
        add_tx(case, f"tx-{i}", tilted(i))
    waiting = backlog_ids()

    with pytest.raises(RuntimeError), transaction.atomic():
        similarity_index_catch_up(max_rows=2)
        raise RuntimeError("the worker died before the commit")

    assert backlog_ids() == waiting
    assert graph() == {}
    assert similarity_index_catch_up(max_rows=2) == 2
    assert len(backlog_ids()) == 1
    assert similarity_index_catch_up() == 1
    assert set(graph()) == waiting


@pytest.mark.django_db(transaction=True)
def test_a_bulk_fill_moves_the_backlog_into_a_rebuilt_graph_that_takes_the_old_ones_place():
    case = empty_case()
    kept = add_tx(case, "kept", tilted(0, 1, 0.1))
    changed = add_tx(case, "changed", tilted(0, 2, 0.1))
    dropped = add_tx(case, "dropped", tilted(0, 3, 0.1))
    similarity_index_catch_up()  # these three are in the graph already
    waiting = [add_tx(case, f"wait-{i}", tilted(0, 10 + i, 0.2 + i / 100)) for i in range(40)]
    add_tx(case, "no-embedding", None)
    Transaction.objects.filter(pk=changed.pk).update(embedding=tilted(5))
    Transaction.objects.filter(pk=dropped.pk).update(embedding=None)
    query = add_tx(empty_case(), "query", tilted(0))
    out = io.StringIO()

    call_command("rebuild_similarity_index", "--fill-backlog", stdout=out, stderr=io.StringIO())

    stored = graph()
    assert set(stored) == {kept.pk, changed.pk, query.pk, *(tx.pk for tx in waiting)}
    np.testing.assert_allclose(stored[changed.pk], tilted(5), rtol=1e-6)
    assert backlog_ids() == set()
    assert "43 backlog entries settled" in out.getvalue()  # 40, changed, dropped, query
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'cases_indexedembedding'::regclass ORDER BY 1"
        )
        assert cursor.fetchall() == [
            ("cases_indexedembedding_pkey", True), ("transaction_embedding_hnsw", True),
        ]  # fmt: skip
        cursor.execute(
            "SELECT convalidated FROM pg_constraint "
            "WHERE conrelid = 'cases_indexedembedding'::regclass AND contype = 'f'"
        )
        assert cursor.fetchall() == [(True,)]
    nearest = similar_transactions_for_transaction(query, k=5)
    assert nearest.plan.method == "hnsw"
    assert names(nearest.neighbours)[0] == "kept"
    similarity_index_catch_up()  # the worker carries on as before
    add_tx(case, "after", tilted(0, 60, 0.1))
    assert similarity_index_catch_up() == 1


def graph_table_oid() -> int:
    """Changes when a bulk fill puts a rebuilt graph table in the old one's place."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'cases_indexedembedding'::regclass::oid")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_worker_builds_a_backlog_large_against_the_graph_at_once_and_a_small_one_row_by_row(
    settings,
):
    settings.FRAUDCASE_GRAPH_BULK_FILL_MIN_ROWS = 20
    settings.FRAUDCASE_GRAPH_BULK_FILL_SHARE = 0.9
    case = empty_case()

    def add(prefix: str, count: int) -> set[int]:
        return {
            add_tx(case, f"{prefix}-{i}", tilted(i % 7, 7 + i % 9, 0.1)).pk for i in range(count)
        }

    def refresh_with_fresh_statistics() -> int:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_indexedembedding")  # what autovacuum would do
        return similarity_graph_refresh()

    empty_graph = graph_table_oid()
    first = add("first", 30)  # 30 waiting, an empty graph: built at once
    assert refresh_with_fresh_statistics() == 30
    assert graph_table_oid() != empty_graph
    built = graph_table_oid()
    small = add("small", 10)  # under the minimum: row by row, into the same table
    assert refresh_with_fresh_statistics() == 10
    under_share = add("share", 21)  # 21 < 0.9 x 40 in the graph: row by row
    assert refresh_with_fresh_statistics() == 21
    assert graph_table_oid() == built
    large = add("large", 60)  # 60 >= 0.9 x 61: built at once again
    assert refresh_with_fresh_statistics() == 60
    assert graph_table_oid() != built
    assert set(graph()) == first | small | under_share | large
    assert backlog_ids() == set()


@pytest.mark.django_db(transaction=True)
def test_while_another_worker_builds_the_graph_the_others_go_on_row_by_row(settings):
    settings.FRAUDCASE_GRAPH_BULK_FILL_MIN_ROWS = 5
    case = empty_case()
    waiting = {add_tx(case, f"tx-{i}", tilted(0, 1 + i, 0.1)).pk for i in range(8)}
    before = graph_table_oid()
    builder = connection.copy()  # another worker's session, holding the build's lock
    try:
        with builder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [GRAPH_FILL_LOCK])
        assert similarity_graph_refresh() == 8
    finally:
        builder.close()
    assert graph_table_oid() == before
    assert set(graph()) == waiting


# --- index rebuilds and the ingest hand-off (real transactions, a real worker) ----------------


@pytest.mark.django_db(transaction=True)
def test_rebuild_reindexes_and_rebuilds_changed_or_missing_indexes_concurrently():
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX transaction_labelled_hnsw")
        cursor.execute("DROP INDEX case_centroid_hnsw")
        cursor.execute(
            "CREATE INDEX case_centroid_hnsw ON cases_casecentroid "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 4, ef_construction = 8)"
        )

    results = {result.name: result.action for result in similarity_index_rebuild()}

    assert results == {
        "transaction_embedding_hnsw": "reindexed",
        "transaction_labelled_hnsw": "created",
        "case_centroid_hnsw": "rebuilt",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.reloptions, i.indisvalid FROM pg_class c "
            "JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname LIKE %s ORDER BY 1",
            ["%hnsw%"],
        )
        indexes = cursor.fetchall()
    options = [f"m={settings.FRAUDCASE_HNSW_M}", f"ef_construction={settings.FRAUDCASE_HNSW_EF_CONSTRUCTION}"]  # fmt: skip
    assert indexes == [
        ("case_centroid_hnsw", options, True),
        ("transaction_embedding_hnsw", options, True),
        ("transaction_labelled_hnsw", options, True),
    ]
    call_command("rebuild_similarity_index", "--index", "transaction_labelled_hnsw")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ingest_hands_the_verdict_refresh_to_a_worker(s3, bucket, celery_worker_factory):
    judged = empty_case(status=CaseStatus.CLOSED, resolution="confirmed_fraud")
    for i in range(10):
        add_tx(judged, f"judged-{i}", tilted(0, 1 + i, 0.1), label="fraud")
    rows = [
        contract_row(i, account_id="acc-new", embedding=tilted(0, 20 + i, 0.2)) for i in range(3)
    ]
    put_file(s3, bucket, "flagged/new.csv", encode_rows(rows, "csv"))
    worker = celery_worker_factory(FRAUDCASE_INBOX_BUCKET=bucket)
    from cases.ingest.tasks import scan_inbox

    scan_inbox.delay()

    new_case = wait_until(
        lambda: Case.objects.filter(account_id="acc-new", neighbour_summary__isnull=False).first(),
        timeout=60, message=lambda: f"the new case's verdict; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    verdict = NeighbourVerdict.from_summary(new_case.neighbour_summary)
    assert (verdict.labelled, verdict.fraud) == (10, 10)
    assert new_case.neighbour_fraud_score == pytest.approx(verdict.fraud_score)
    assert new_case.priority == case_priority(
        max_similarity_score=new_case.max_similarity_score,
        worst_outcome=new_case.worst_outcome,
        amount_at_risk=new_case.amount_at_risk,
        neighbour_fraud_score=verdict.fraud_score,
    )
    assert CaseCentroid.objects.filter(case=new_case, embedded_transactions=3).exists()
    # The worker also added the new embeddings to the graph, and the backlog is empty.
    new_ids = set(new_case.transactions.values_list("id", flat=True))
    wait_until(
        lambda: new_ids <= set(graph()) and not backlog_ids(), timeout=60,
        message=lambda: f"the graph; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
