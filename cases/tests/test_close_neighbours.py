"""Closing a case runs no nearest-neighbour search in its transaction (issue 14).

A close records a label version per transaction; each ran an HNSW search for that
transaction's neighbour verdict inside the close's transaction, holding the case's locks (up
to 120 s under load). A label version now records the case's neighbour verdict as it stood
(the stored one the case page showed: cases.labels.services.versions), and the open cases near
the new labels are refreshed by one task queued after the commit, however many labels.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import dispatch
from cases.models import CaseStatus, LabelVersion, NeighbourRefreshRequest
from cases.similarity.selectors import neighbour_verdict
from cases.similarity.services import cases_refresh_neighbour_verdict
from cases.tests.label_fixtures import add_tx, axis, make_team
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services

pytestmark = pytest.mark.django_db(transaction=True)


def queued_tasks() -> list[str]:
    """The task names of the messages waiting in the default Celery queue (a Redis list)."""
    from fraudcase.celery import app

    with app.connection_for_write() as broker:
        messages = broker.default_channel.client.lrange("celery", 0, -1)
    return sorted(json.loads(message)["headers"]["task"] for message in messages)


def test_closing_searches_no_neighbours_and_records_the_cases_standing_verdict(
    celery_worker_factory,  # purges the broker's queue and the pending marks; no worker started
):
    analyst, _, lead, _, queue = make_team()
    known = make_case(queue, status=CaseStatus.CLOSED, transactions=0)
    add_tx(known, "known_fraud", embedding=axis(1), label="fraud")
    add_tx(known, "known_legit", embedding=axis(2), label="legitimate")
    near = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    add_tx(near, "near_0", embedding=axis(1, towards=3, by=0.3))
    closing = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    # One transaction near the fraud, one near the legitimate: each one's own verdict differs
    # from the case's, which weighs both.
    near_fraud = add_tx(closing, "closing_0", embedding=axis(1, towards=4, by=0.1))
    near_legit = add_tx(closing, "closing_1", embedding=axis(2, towards=4, by=0.1))
    cases_refresh_neighbour_verdict(case_ids=[closing.pk, near.pk])
    closing.refresh_from_db()
    standing = closing.neighbour_summary["fraud_share"]
    own = neighbour_verdict(near_fraud.embedding, exclude_case_id=closing.pk).fraud_share
    assert 0.3 < standing < 0.7 and own > 0.9  # the test can tell them apart

    with CaptureQueriesContext(connection) as queries:
        services.case_close(
            actor=lead, case_id=closing.pk, resolution="confirmed_fraud",
            reason_codes=["card-compromised"], comment="Card was skimmed",
        )  # fmt: skip

    searches = [query["sql"] for query in queries if "<=>" in query["sql"]]
    assert searches == []
    versions = LabelVersion.objects.filter(case_id=closing.pk).order_by("transaction_id")
    assert [(v.transaction_id, v.label, v.neighbour_fraud_share) for v in versions] == [
        (near_fraud.pk, "fraud", standing), (near_legit.pk, "fraud", standing),
    ]  # fmt: skip
    # The open cases near the new labels: one refresh task after the commit, for both labels.
    assert sorted(NeighbourRefreshRequest.objects.values_list("transaction_id", flat=True)) == [
        near_fraud.pk, near_legit.pk,
    ]  # fmt: skip
    assert queued_tasks().count(dispatch.REFRESH_NEIGHBOURS_OF_LABELS) == 1


def test_a_case_without_a_stored_verdict_records_none_and_the_guard_sees_no_contradiction():
    analyst, _, lead, _, queue = make_team()
    known = make_case(queue, status=CaseStatus.CLOSED, transactions=0)
    add_tx(known, "known_fraud", embedding=axis(1), label="fraud")
    fresh = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=0)
    tx = add_tx(fresh, "fresh_0", embedding=axis(1, towards=2, by=0.1), outcome="block")

    services.transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="legitimate")

    version = LabelVersion.objects.get(transaction=tx)
    assert (version.neighbour_fraud_share, version.contradicts_model) == (None, False)
