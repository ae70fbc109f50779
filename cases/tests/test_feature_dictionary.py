"""Why was this flagged, in words: the feature dictionary (the shipped default, an operator's
own file, broken files as a system check error), deviations only against enough history, and
the nearest confirmed frauds of other cases as part of the explanation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from cases.casefile.explain import explain_transactions
from cases.casefile.feature_dictionary import (
    DEFAULT_PATH,
    check_feature_dictionary,
    feature_dictionary,
    parse_feature_dictionary,
)
from cases.casefile.why import transaction_explanation
from cases.demo.embedding import FEATURE_NAMES
from cases.tests.test_case_page import add_transaction
from cases.tests.test_similarity import similarity_of, tilted
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_default_describes_every_demo_feature():
    entries = parse_feature_dictionary(DEFAULT_PATH.read_text(), source="default")
    assert set(entries) == set(FEATURE_NAMES)
    assert (entries["hour_sin"].name, entries["log_amount"].name) == ("time of day", "amount")
    assert all(entry.description and entry.unit and entry.reading for entry in entries.values())
    assert (entries["log_amount"].higher, entries["log_amount"].lower) == ("larger", "smaller")
    assert (entries["new_device"].higher, entries["new_device"].lower) == ("higher", "lower")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[hour_sin\nname = 'x'", "is not valid TOML"),
        ("[hour_sin]\ndescription = 'd'", "[hour_sin] lacks name"),
        ("[hour_sin]\nname = 'n'\ndescription = 'd'\ncolour = 'red'", "unknown fields colour"),
        ("hour_sin = 'time of day'", "'hour_sin' must be a table"),
    ],
)
def test_a_broken_file_is_refused_with_the_reason(text, problem):
    with pytest.raises(ImproperlyConfigured, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_feature_dictionary(text)


def test_the_operators_file_is_read_and_a_broken_one_fails_the_check(tmp_path, settings):
    own = tmp_path / "features.toml"
    own.write_text('[amount_z]\nname = "amount (z-score)"\ndescription = "d"\nhigher = "above"\n')
    settings.FRAUDCASE_FEATURE_DICTIONARY_PATH = str(own)
    assert feature_dictionary()["amount_z"].name == "amount (z-score)"
    assert check_feature_dictionary() == []

    own.write_text('[amount_z]\nname = "amount (z-score)"\n')  # an edit, read again
    errors = check_feature_dictionary()
    assert [error.id for error in errors] == ["fraudcase.E020"]
    assert "[amount_z] lacks description" in errors[0].msg

    settings.FRAUDCASE_FEATURE_DICTIONARY_PATH = str(tmp_path / "missing.toml")
    assert "cannot be read" in check_feature_dictionary()[0].msg


@pytest.fixture
def team():
    analyst = make_user("ana", "analyst")
    return {"analyst": analyst, "queue": make_queue("General", analyst, is_default=True)}


def test_deviations_need_enough_history_and_say_so(team):
    case = make_case(team["queue"], account_id="acc_short", transactions=0)
    for minute, value in enumerate((0.1, 0.2, 0.3)):
        add_transaction(case, f"tx_{minute}", minutes=minute, features={"hour_sin": value})
    odd = add_transaction(case, "tx_odd", minutes=9, features={"hour_sin": 0.7})
    rows = [{"id": tx.pk, "features": tx.features} for tx in case.transactions.order_by("pk")]

    explanation = explain_transactions([odd], rows, {})[0]

    (feature,) = explanation.features
    assert (explanation.account_history, explanation.min_baseline) == (3, 5)
    assert explanation.baseline_enough is False
    assert (feature.account_count, feature.account_median, feature.account_deviation) == (
        3, 0.2, None,
    )  # fmt: skip
    assert feature.label == "time of day" and feature.sentence == ""
    assert explanation.sentences == []

    for minute, value in enumerate((0.1, 0.2), start=3):
        add_transaction(case, f"tx_more_{minute}", minutes=minute, features={"hour_sin": value})
    rows = [{"id": tx.pk, "features": tx.features} for tx in case.transactions.order_by("pk")]
    explanation = explain_transactions([odd], rows, {})[0]
    (feature,) = explanation.features
    # Five others: 0.1, 0.1, 0.2, 0.2, 0.3; (0.7 - 0.2) / 0.2 = 2.5 ranges off.
    assert feature.account_deviation == pytest.approx(2.5)
    assert explanation.sentences == [
        "Time of day: 0.7, far earlier in the day than this account's usual (median 0.2, "
        "0.1 to 0.3 over 5 transactions)."
    ]


def test_the_page_says_when_the_history_is_too_short(team):
    case = make_case(team["queue"], account_id="acc_page", transactions=0)
    add_transaction(case, "tx_a", minutes=1, features={"log_amount": 0.1})
    tx = add_transaction(case, "tx_b", minutes=2, features={"log_amount": 2.5})
    fragment = (
        client_for(team["analyst"])
        .get(f"/cases/{case.reference}/why/?transaction={tx.pk}", HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert (
        "Too little history to compare with the account: 1 other transaction, 5 needed. "
        "Compared with the population only." in fragment
    )
    assert "too little history (n=1, 5 needed)" in fragment
    assert 'amount <code class="case-muted">log_amount</code>' in fragment


def test_the_nearest_confirmed_frauds_are_part_of_the_explanation(team):
    hidden_queue = make_queue("High risk")
    case = make_case(team["queue"], account_id="acc_me", transactions=0)
    mine = add_transaction(case, "tx_mine", embedding=tilted(0), features={"log_amount": 1})
    # The case's own label would only echo the analyst: left out.
    add_transaction(case, "tx_mine_labelled", embedding=tilted(0, 1, 0.01), label="fraud")
    fraud = make_case(team["queue"], account_id="acc_f", transactions=0, status="closed",
                      resolution="confirmed_fraud")  # fmt: skip
    add_transaction(fraud, "tx_fraud", embedding=tilted(0, 1, 0.2), label="fraud")
    legit = make_case(team["queue"], account_id="acc_l", transactions=0)
    add_transaction(legit, "tx_legit", embedding=tilted(0, 1, 0.1), label="legitimate")
    elsewhere = make_case(hidden_queue, account_id="acc_h", transactions=0)
    add_transaction(elsewhere, "tx_hidden", embedding=tilted(0, 1, 0.5), label="fraud")

    explanation = transaction_explanation(case, mine.pk, viewer=team["analyst"])

    assert (explanation.nearest_labelled, explanation.nearest_fraud_count) == (3, 2)
    assert [n.transaction_id for n in explanation.nearest_frauds] == ["tx_fraud", ""]
    assert [n.similarity for n in explanation.nearest_frauds] == pytest.approx(
        [similarity_of(0.2), similarity_of(0.5)], abs=1e-6
    )
    assert explanation.nearest_frauds[0].case_resolution_text == "Confirmed fraud"
    assert explanation.nearest_frauds[1].hidden and explanation.nearest_hidden == 1
