"""A new label refreshes the neighbour verdict of exactly the open cases it may move: those whose
stored verdict rests on the labelled transaction, and those it now enters (queued, coalesced)."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseStatus, NeighbourRefreshRequest, VerdictNeighbours
from cases.similarity.selectors import VERDICT_K, open_cases_labels_move
from cases.similarity.services import (
    cases_refresh_neighbour_verdict,
    cases_refresh_neighbours_of_labels,
)
from cases.tests.label_fixtures import add_tx, axis, make_team
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services
from conftest import wait_until


def label(actor, tx, value):
    services.transaction_label(actor=actor, transaction_id=tx.transaction_id, label=value)


def case_with(queue, name, embedding, status=CaseStatus.IN_REVIEW):
    """A case of one transaction, `name`_0, with this embedding: (case, transaction)."""
    case = make_case(queue, status=status, transactions=0)
    return case, add_tx(case, f"{name}_0", embedding=embedding)


def world():
    """An open case and a closed one near axis 1, and a case whose transaction gets labelled."""
    analyst, _, _, _, queue = make_team()
    waiting, _ = case_with(queue, "waiting", axis(1, towards=2, by=0.2))
    closed, _ = case_with(queue, "closed", axis(1, towards=3, by=0.2), status=CaseStatus.CLOSED)
    labelled_case, target = case_with(queue, "target", axis(1, towards=4, by=0.1))
    far_case, _ = case_with(queue, "far", axis(200))
    cases_refresh_neighbour_verdict(case_ids=[waiting.pk, closed.pk, labelled_case.pk, far_case.pk])
    return analyst, waiting, closed, target, far_case


@pytest.mark.django_db
def test_a_label_queues_one_request_and_the_drain_refreshes_the_open_cases_it_enters():
    analyst, waiting, closed, target, far_case = world()
    assert Case.objects.get(pk=waiting.pk).neighbour_summary is None

    label(analyst, target, "legitimate")
    label(analyst, target, "fraud")  # changed again before a worker came: still one request

    assert list(NeighbourRefreshRequest.objects.values_list("transaction_id", flat=True)) == [
        target.pk
    ]
    changed = cases_refresh_neighbours_of_labels()

    waiting.refresh_from_db()
    far_case.refresh_from_db()
    # No verdict had its k neighbours yet: the first label enters every open case's verdict,
    # the far one's too (at similarity 0: no weight).
    assert changed == 2
    assert (waiting.neighbour_summary["labelled"], waiting.neighbour_summary["fraud"]) == (1, 1)
    assert waiting.neighbour_fraud_score > 0
    assert (far_case.neighbour_summary["labelled"], far_case.neighbour_fraud_score) == (1, 0)
    assert VerdictNeighbours.objects.get(case=waiting).transaction_ids == [target.pk]
    # Finished cases are not refreshed.
    assert Case.objects.get(pk=closed.pk).neighbour_summary is None
    assert not NeighbourRefreshRequest.objects.exists()
    assert cases_refresh_neighbours_of_labels() == 0


def full_world():
    """VERDICT_K legitimate transactions around axis 1, each open case's verdict full:

    - `behind` (around axis 4) has the target among its neighbours (its most similar);
    - `near` (around axis 1) is near the target (similarity 0.96) but its k neighbours are all
      nearer still (0.999): the target is not among them;
    - `entered` (around axis 6) rests on the far pool until `newcomer` (near axis 6) is labelled.
    """
    analyst, _, _, _, queue = make_team()
    pool = make_case(queue, status=CaseStatus.CLOSED, transactions=0)
    for index in range(VERDICT_K):
        add_tx(pool, f"pool_{index}", embedding=axis(1, towards=2, by=0.01 * index),
               label="legitimate")  # fmt: skip
    target_case, target = case_with(queue, "target", axis(1, towards=4, by=0.3))
    label(analyst, target, "legitimate")
    behind, _ = case_with(queue, "behind", axis(4, towards=1, by=0.5))
    near, _ = case_with(queue, "near", axis(1, towards=2, by=0.05))
    entered, _ = case_with(queue, "entered", axis(6, towards=1, by=0.1))
    newcomer_case, newcomer = case_with(queue, "newcomer", axis(6, towards=1, by=0.2))
    cases_refresh_neighbour_verdict(
        case_ids=[target_case.pk, behind.pk, near.pk, entered.pk, newcomer_case.pk]
    )
    NeighbourRefreshRequest.objects.all().delete()
    return analyst, target, newcomer, behind, near, entered


@pytest.mark.django_db
def test_a_changed_label_refreshes_the_cases_whose_verdict_rests_on_it_and_no_other():
    analyst, target, _, behind, near, entered = full_world()
    stored = dict(VerdictNeighbours.objects.values_list("case_id", "transaction_ids"))
    assert target.pk in stored[behind.pk]
    assert target.pk not in stored[near.pk] and len(stored[near.pk]) == VERDICT_K
    near_similarity = VerdictNeighbours.objects.get(case=near).kth_similarity
    assert near_similarity > 0.99
    before = Case.objects.get(pk=behind.pk).neighbour_summary
    assert (before["labelled"], before["fraud"]) == (VERDICT_K, 0)

    label(analyst, target, "fraud")

    assert open_cases_labels_move([target.pk]) == {behind.pk}
    assert cases_refresh_neighbours_of_labels() == 1
    assert Case.objects.get(pk=behind.pk).neighbour_summary["fraud"] == 1
    assert Case.objects.get(pk=near.pk).neighbour_summary["fraud"] == 0


@pytest.mark.django_db
def test_a_new_label_refreshes_the_cases_it_enters_and_not_those_it_stays_out_of():
    analyst, _, newcomer, behind, near, entered = full_world()
    assert Case.objects.get(pk=entered.pk).neighbour_summary["fraud"] == 0

    label(analyst, newcomer, "fraud")

    # Near `near` too (similarity 0.2 against its k-th's 0.999) and `behind`: it enters neither.
    assert open_cases_labels_move([newcomer.pk]) == {entered.pk}
    assert cases_refresh_neighbours_of_labels() == 1
    summary = Case.objects.get(pk=entered.pk).neighbour_summary
    assert summary["fraud"] == 1 and summary["top_similarity"] > 0.99
    assert newcomer.pk in VerdictNeighbours.objects.get(case=entered).transaction_ids


@pytest.mark.django_db
def test_a_case_without_a_stored_verdict_counts_as_one_any_label_may_move():
    analyst, target, _, behind, near, entered = full_world()
    VerdictNeighbours.objects.filter(case=near).delete()  # refreshed before the table existed

    label(analyst, target, "fraud")

    assert open_cases_labels_move([target.pk]) == {behind.pk, near.pk}


@pytest.mark.django_db
def test_a_label_without_an_embedding_asks_for_nothing():
    analyst, _, _, _, queue = make_team()
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()

    label(analyst, tx, "fraud")

    assert not NeighbourRefreshRequest.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_refreshes_the_verdict_after_the_label_commits(celery_worker_factory, bucket):
    analyst, waiting, _, target, _ = world()
    worker = celery_worker_factory(FRAUDCASE_RETRAINING_BUCKET=bucket)

    label(analyst, target, "fraud")

    wait_until(
        lambda: Case.objects.get(pk=waiting.pk).neighbour_summary is not None, timeout=60,
        message=lambda: f"the verdict to be refreshed; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert Case.objects.get(pk=waiting.pk).neighbour_summary["fraud"] == 1
    assert not NeighbourRefreshRequest.objects.exists()
