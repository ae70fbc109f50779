"""The case page's neighbour lists: the labelled transactions behind the verdict (exact values
on hand-built vectors), what they were searched for, and other queues' neighbours blanked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.casefile.neighbours import case_neighbours
from cases.similarity.services import cases_refresh_neighbour_verdict
from cases.tests.test_similarity import add_tx, similarity_of, tilted
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    analyst = make_user("ana", "analyst")
    general = make_queue("General", analyst, is_default=True)
    other_queue = make_queue("High risk")
    mine = make_case(general, transactions=0)
    add_tx(mine, "mine_1", tilted(0))
    add_tx(mine, "mine_2", tilted(0))
    add_tx(mine, "mine_no_embedding", None)
    fraud_near = make_case(general, transactions=0, resolution="confirmed_fraud", status="closed")
    add_tx(fraud_near, "fraud_near", tilted(0, 1, 0.2), label="fraud")
    legit = make_case(general, transactions=0, resolution="false_positive", status="closed")
    add_tx(legit, "legit_mid", tilted(0, 1, 0.5), label="legitimate")
    hidden = make_case(other_queue, transactions=0, resolution="confirmed_fraud", status="closed")
    add_tx(hidden, "hidden_far", tilted(0, 1, 1.0), label="fraud")
    unlabelled = make_case(general, transactions=0)
    add_tx(unlabelled, "unlabelled_nearest", tilted(0, 1, 0.05))
    return {"analyst": analyst, "mine": mine, "fraud_near": fraud_near, "hidden": hidden}


def test_the_labelled_list_is_what_the_verdict_counts(world):
    cases_refresh_neighbour_verdict(case_ids=[world["mine"].pk])
    world["mine"].refresh_from_db()

    result = case_neighbours(world["mine"], viewer=world["analyst"])

    labelled = result.labelled.neighbours
    assert [n.label for n in labelled] == ["fraud", "legitimate", "fraud"]
    assert [n.similarity for n in labelled] == pytest.approx(
        [similarity_of(0.2), similarity_of(0.5), similarity_of(1.0)], abs=1e-6
    )
    assert labelled[0].transaction_id == "fraud_near"
    assert labelled[0].case_reference == world["fraud_near"].reference
    assert labelled[0].case_resolution_text == "Confirmed fraud"
    # Another queue's neighbour: similarity, label and resolution stay, the ids go.
    assert (labelled[2].hidden, labelled[2].transaction_id, labelled[2].case_reference) == (
        True, "", "",
    )  # fmt: skip
    assert result.labelled_hidden == 1
    assert (result.verdict.fraud, result.verdict.labelled) == (2, 3)
    assert (
        result.verdict.sentence
        == "2 of 3 nearest labelled neighbours were fraud, most similar 0.98"
    )
    assert result.stored_verdict.as_summary() == result.verdict.as_summary()
    assert result.stored_verdict_differs is False
    # The list of all transactions has the unlabelled one first.
    assert result.similar.neighbours[0].transaction_id == "unlabelled_nearest"
    assert result.searched_for == ["mine_1", "mine_2"] and result.transaction_count == 3


def test_a_stale_stored_verdict_is_told_apart(world):
    # No refresh since the labels: nothing stored, the live list already counts three.
    result = case_neighbours(world["mine"], viewer=world["analyst"])
    assert result.stored_verdict is None and result.stored_verdict_differs is True


def test_the_case_page_shows_both_lists_and_what_they_are_for(world):
    cases_refresh_neighbour_verdict(case_ids=[world["mine"].pk])
    response = client_for(world["analyst"]).get(
        reverse("case-detail", args=[world["mine"].reference])
    )
    body = response.content.decode()
    section = body.split('id="neighbours"')[1].split("</section>\n{% endwith")[0]
    assert "2 of 3 nearest labelled neighbours were fraud" in section
    assert (
        "the mean of the embeddings of\n    2 of its 3 transactions" in " ".join([section])
        or "2 of its 3 transactions (the others carry no embedding)" in section
    )
    assert "<code>mine_1</code>, <code>mine_2</code>" in section
    assert world["fraud_near"].reference in section
    assert world["hidden"].reference not in body and "hidden_far" not in body
    assert 'id="labelled-neighbours"' in section and 'id="similar-heading"' in section
