"""refresh_neighbour_verdicts deadlocked ("deadlock detected ... inserting into
cases_casecentroid"): centroids were upserted in whatever order the plan produced groups, and
case rows were locked FOR UPDATE, which holds up the FOR KEY SHARE a new centroid's foreign key
takes. Centroids and verdicts are now written in case id order, cases locked FOR NO KEY UPDATE."""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from cases.models import Case, CaseStatus, Transaction
from cases.similarity.models import CaseCentroid, EmbeddingBacklog
from cases.similarity.services import cases_refresh_neighbour_verdict, similarity_index_catch_up
from cases.tests.lock_fixtures import InThread, RowLocker, until_blocked_or_done
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db(transaction=True)

# What the planner picks for a big table with stale statistics: groups in hash order.
HASH_PLAN = "SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_sort = off"
NESTED_LOOP_PLAN = (
    "SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off; "
    "SET enable_sort = off; SET enable_hashagg = off"
)
PLAN_RESET = (
    "RESET enable_indexscan; RESET enable_bitmapscan; RESET enable_sort; RESET enable_hashjoin; "
    "RESET enable_mergejoin; RESET enable_material; RESET enable_hashagg"
)


def cases_with_embeddings(count: int, seed: int = 7) -> list[int]:
    cases = Case.objects.bulk_create([Case(account_id=f"acc_c{index}") for index in range(count)])
    rng = np.random.default_rng(seed)
    Transaction.objects.bulk_create(
        Transaction(
            transaction_id=f"tx_c{case.pk}",
            account_id=case.account_id,
            occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
            amount=Decimal("10.00"),
            currency="EUR",
            similarity_score=0.5,
            model_version="m1",
            outcome="investigate",
            case=case,
            embedding=rng.normal(size=settings.FRAUDCASE_EMBEDDING_DIM),
        )  # fmt: skip
        for case in cases
    )
    return [case.pk for case in cases]


def test_centroids_are_written_in_case_order_whatever_the_plan():
    case_ids = cases_with_embeddings(40)
    with connection.cursor() as cursor:
        cursor.execute(HASH_PLAN)
    try:
        cases_refresh_neighbour_verdict(case_ids=case_ids)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(PLAN_RESET)

    with connection.cursor() as cursor:  # a fresh table: the physical order is the insert order
        cursor.execute("SELECT case_id FROM cases_casecentroid ORDER BY ctid")
        written = [row[0] for row in cursor.fetchall()]
    assert written == sorted(case_ids)


def test_two_workers_refreshing_overlapping_cases_never_deadlock():
    """One refresh is queued per ingest chunk and beat sweeps every open case: two workers
    often refresh overlapping sets of cases at once."""
    case_ids = cases_with_embeddings(200)
    barrier, rounds = threading.Barrier(2, timeout=60), 10

    def worker(seed: int):
        with connection.cursor() as cursor:
            cursor.execute(HASH_PLAN)
        chooser = random.Random(seed)
        for _ in range(rounds):
            barrier.wait()
            cases_refresh_neighbour_verdict(
                case_ids=chooser.sample(case_ids, chooser.randint(60, 200))
            )

    workers = [InThread(lambda seed=seed: worker(seed)) for seed in (1, 2)]
    for each in workers:
        each.join(120)

    assert [each.error for each in workers] == [None, None]
    assert CaseCentroid.objects.count() == 200


def test_a_refresh_while_a_lead_merges_two_of_its_cases_neither_deadlocks(caplog):
    """The refresh inserts centroids in case order, each taking FOR KEY SHARE on its case; the
    merge locked its cases FOR UPDATE, the longer id first (as text): each waited for the other."""
    lead = make_user("lea", "lead")
    queue = make_queue("General", lead)
    short, long = 99_999_999, 100_000_000
    rng = np.random.default_rng(3)
    for case_id in (short, long):
        case = make_case(queue, id=case_id, account_id=f"acc_{case_id}", transactions=1)
        case.transactions.update(embedding=rng.normal(size=settings.FRAUDCASE_EMBEDDING_DIM))
    caplog.set_level(logging.WARNING, logger="cases.locking")
    # A reader of the shorter case's key (as any insert referring to it is) holds up the merge.
    holder = RowLocker("SELECT 1 FROM cases_case WHERE id = %s FOR KEY SHARE", [short])

    merging = InThread(
        lambda: services.case_merge(
            actor=lead, source_case_id=short, target_case_id=long, justification="one ring"
        )
    )
    until_blocked_or_done(merging)
    refreshing = InThread(lambda: cases_refresh_neighbour_verdict(case_ids=[short, long]))
    until_blocked_or_done(refreshing)
    holder.release()
    merging.join(), refreshing.join()

    assert merging.error is None and refreshing.error is None, (merging.error, refreshing.error)
    assert not caplog.records
    assert Case.objects.get(pk=short).status == CaseStatus.MERGED


@pytest.mark.django_db
def test_a_graph_catch_up_batch_is_never_larger_than_asked_whatever_the_plan():
    """With the pick on a nested loop's inner side, each rescan skipped the rows the statement
    had just deleted and took the next: one 'batch' claimed the whole backlog."""
    cases_with_embeddings(5)
    with connection.cursor() as cursor:
        cursor.execute(NESTED_LOOP_PLAN)
    try:
        claimed = similarity_index_catch_up(max_rows=2)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(PLAN_RESET)

    assert claimed == 2
    assert EmbeddingBacklog.objects.count() == 3
