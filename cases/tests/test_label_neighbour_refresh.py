"""A new label refreshes the neighbour verdict of the open cases near it (queued, coalesced)."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseStatus, NeighbourRefreshRequest
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


def world():
    """An open case and a closed one near axis 1, and a case whose transaction gets labelled."""
    analyst, _, _, _, queue = make_team()
    waiting = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    add_tx(waiting, "waiting_0", embedding=axis(1, towards=2, by=0.2))
    closed = make_case(queue, status=CaseStatus.CLOSED, transactions=0)
    add_tx(closed, "closed_0", embedding=axis(1, towards=3, by=0.2))
    labelled_case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    target = add_tx(labelled_case, "target_0", embedding=axis(1, towards=4, by=0.1))
    far_case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    add_tx(far_case, "far_0", embedding=axis(200))
    cases_refresh_neighbour_verdict(case_ids=[waiting.pk, closed.pk, labelled_case.pk, far_case.pk])
    return analyst, waiting, closed, target, far_case


@pytest.mark.django_db
def test_a_label_queues_one_request_and_the_drain_refreshes_the_open_cases_near_it(settings):
    settings.FRAUDCASE_LABEL_REFRESH_CASES = 1
    analyst, waiting, closed, target, far_case = world()
    assert Case.objects.get(pk=waiting.pk).neighbour_summary is None

    label(analyst, target, "legitimate")
    label(analyst, target, "fraud")  # changed again before a worker came: still one request

    assert list(NeighbourRefreshRequest.objects.values_list("transaction_id", flat=True)) == [
        target.pk
    ]
    changed = cases_refresh_neighbours_of_labels()

    waiting.refresh_from_db()
    assert changed == 1
    assert (waiting.neighbour_summary["labelled"], waiting.neighbour_summary["fraud"]) == (1, 1)
    assert waiting.neighbour_fraud_score > 0
    # Finished cases are not refreshed; with only the nearest asked, the far case is not either.
    assert Case.objects.get(pk=closed.pk).neighbour_summary is None
    assert Case.objects.get(pk=far_case.pk).neighbour_summary is None
    assert not NeighbourRefreshRequest.objects.exists()
    assert cases_refresh_neighbours_of_labels() == 0


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
