"""The shadow comparison: the champion and a shadow model on the same labelled transactions,
exact figures on a small built dataset, equal to scikit-learn's on the raw labels."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, precision_recall_fscore_support

from analytics.common.ranges import DayRange
from analytics.quality.shadow import shadow_comparison
from analytics.tests.builders import QUALITY_ROWS, labelled_transaction, shadow_scores
from cases.tests.workflow_fixtures import make_user
from conftest import client_for

pytestmark = pytest.mark.django_db

NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30))
RANGE = "since=2026-11-01&until=2026-11-30"
SHADOW = "m1-candidate"
# The candidate's (score, outcome) for the first eight of QUALITY_ROWS (labels F F L F L F L L).
SHADOW_ROWS = [(0.97, "block"), (0.55, "investigate"), (0.30, "approve"), (0.88, "block"),
               (0.20, "approve"), (0.91, "block"), (0.65, "investigate"), (0.10, "")]  # fmt: skip
TRUTH = np.array([label == "fraud" for _, label, _, _ in QUALITY_ROWS[:8]])
CHAMPION_SCORES = np.array([score for score, _, _, _ in QUALITY_ROWS[:8]])
SHADOW_SCORES = np.array([score for score, _ in SHADOW_ROWS])


def comparison_dataset() -> None:
    """m1's ten labels (QUALITY_ROWS), eight of them also scored by the candidate, and scores
    the comparison must leave out."""
    champion = [
        labelled_transaction(score=score, label=label, outcome=outcome, neighbour=neighbour)
        for score, label, outcome, neighbour in QUALITY_ROWS
    ]
    other_model = labelled_transaction(score=0.9, label="fraud", outcome="block", model="m2")
    unlabelled = labelled_transaction(score=0.9, label="", outcome="block")
    scores = {tx.transaction_id: row for tx, row in zip(champion, SHADOW_ROWS, strict=False)}
    scores |= {
        other_model.transaction_id: (0.1, "approve"),  # the champion is m1, not m2
        unlabelled.transaction_id: (0.1, "approve"),  # no label: nothing to measure
        "tx_not_arrived_yet": (0.99, "block"),
    }
    shadow_scores(SHADOW, scores)
    # A "shadow" score of m1's own version for one of its transactions: never a comparison.
    shadow_scores("m1", {champion[9].transaction_id: (0.99, "block")})


def test_both_models_precision_recall_f1_on_the_same_transactions_equal_sklearns():
    comparison_dataset()

    c = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9,
                          threshold=0.6)  # fmt: skip

    assert (c.labels, c.fraud_labels, c.shadow.labels) == (8, 4, 8)
    assert c.few_labels  # fewer than FRAUDCASE_ANALYTICS_MIN_LABELS
    champion, shadow = c.champion.detector, c.shadow.detector
    assert (champion.true_positives, champion.false_positives, champion.false_negatives) == (
        3,
        1,
        1,
    )
    assert (shadow.true_positives, shadow.false_positives, shadow.false_negatives) == (3, 0, 1)
    assert (champion.precision, champion.recall, shadow.precision, shadow.recall) == (
        0.75, 0.75, 1.0, 0.75,
    )  # fmt: skip
    for figures, outcomes in ((champion, [o for _, _, o, _ in QUALITY_ROWS[:8]]),
                              (shadow, [o for _, o in SHADOW_ROWS])):  # fmt: skip
        expected = precision_recall_fscore_support(
            TRUTH, np.array(outcomes) == "block", average="binary"
        )
        assert (figures.precision, figures.recall, figures.f1) == pytest.approx(expected[:3])
    assert c.threshold == 0.6
    at_c, at_s = c.champion_at_threshold, c.shadow_at_threshold
    assert (at_c.true_positives, at_c.false_positives, at_c.false_negatives) == (4, 2, 0)
    assert (at_s.true_positives, at_s.false_positives, at_s.false_negatives) == (3, 1, 1)
    for figures, model_scores in ((at_c, CHAMPION_SCORES), (at_s, SHADOW_SCORES)):
        expected = precision_recall_fscore_support(TRUTH, model_scores >= 0.6, average="binary")
        assert (figures.precision, figures.recall, figures.f1) == pytest.approx(expected[:3])
    assert c.shadow_without_outcome == 1


def test_both_pr_curves_and_the_threshold_each_needs_for_the_target_precision():
    comparison_dataset()

    c = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9)

    for quality, model_scores in ((c.champion, CHAMPION_SCORES), (c.shadow, SHADOW_SCORES)):
        precision, recall, thresholds = precision_recall_curve(TRUTH, model_scores)
        assert [p.precision for p in quality.curve] == pytest.approx(list(precision[:-1]))
        assert [p.recall for p in quality.curve] == pytest.approx(list(recall[:-1]))
        assert [p.threshold for p in quality.curve] == pytest.approx(list(thresholds))
    shadow_points = [
        (p.threshold, round(p.precision, 4), p.recall, p.called) for p in c.shadow.curve
    ]
    assert shadow_points == [
        (0.1, 0.5, 1.0, 8), (0.2, 0.5714, 1.0, 7), (0.3, 0.6667, 1.0, 6), (0.55, 0.8, 1.0, 5),
        (0.65, 0.75, 0.75, 4), (0.88, 1.0, 0.75, 3), (0.91, 1.0, 0.5, 2), (0.97, 1.0, 0.25, 1),
    ]  # fmt: skip
    assert (c.champion.target_threshold.threshold, c.champion.target_threshold.recall) == (0.9, 0.5)
    assert (c.shadow.target_threshold.threshold, c.shadow.target_threshold.recall) == (0.88, 0.75)
    assert c.threshold == 0.6  # by default: the champion's best-F1 threshold
    assert (c.champion.best_f1.threshold, c.champion.best_f1.f1) == (0.6, pytest.approx(0.8))


def test_the_disagreement_table_counts_each_side_and_its_fraud():
    comparison_dataset()

    c = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9,
                          threshold=0.6)  # fmt: skip

    rows = [(d.basis, d.agreement, d.transactions, d.fraud, d.legitimate) for d in c.disagreement]
    assert rows == [
        ("outcome", "both call fraud", 2, 2, 0),
        ("outcome", "only the champion", 2, 1, 1),
        ("outcome", "only the shadow", 1, 1, 0),
        ("outcome", "neither", 3, 0, 3),
        ("score >= 0.60", "both call fraud", 3, 3, 0),
        ("score >= 0.60", "only the champion", 3, 1, 2),
        ("score >= 0.60", "only the shadow", 1, 0, 1),
        ("score >= 0.60", "neither", 1, 0, 1),
    ]
    flagged = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9,
                                threshold=0.6, detector_call="flag")  # fmt: skip
    # block or investigate: the champion calls rows 0-6, the candidate 0, 1, 3, 5, 6
    assert [(d.agreement, d.transactions, d.fraud) for d in flagged.disagreement[:4]] == [
        ("both call fraud", 5, 4), ("only the champion", 2, 0),
        ("only the shadow", 0, 0), ("neither", 1, 0),
    ]  # fmt: skip


def test_no_comparison_without_shared_labelled_transactions():
    comparison_dataset()

    assert shadow_comparison(NOVEMBER, champion="m2", shadow="m1", target_precision=0.9) is None
    assert shadow_comparison(NOVEMBER, champion="m1", shadow="nobody", target_precision=0.9) is None
    october = DayRange(date(2026, 10, 1), date(2026, 10, 31))
    assert shadow_comparison(october, champion="m1", shadow=SHADOW, target_precision=0.9) is None


def test_a_new_shadow_file_is_seen_at_once_despite_the_cache():
    comparison_dataset()
    first = shadow_comparison(NOVEMBER, champion="m1", shadow="m1-later", target_precision=0.9)
    assert first is None
    tx = labelled_transaction(score=0.5, label="fraud", outcome="approve")

    shadow_scores("m1-later", {tx.transaction_id: (0.8, "block")})

    later = shadow_comparison(NOVEMBER, champion="m1", shadow="m1-later", target_precision=0.9)
    assert (later.labels, later.shadow.detector.true_positives) == (1, 1)


def test_the_page_shows_the_comparison_side_by_side():
    comparison_dataset()
    client = client_for(make_user("lea", "lead"))

    page = client.get(
        f"/analytics/quality/?{RANGE}&champion=m1&shadow_model={SHADOW}&shadow_threshold=0.6"
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "both measured on the same 8 labelled transactions (4 fraud)" in html
    assert 'id="quality-shadow-few"' in html
    assert "<td>0.750 / 0.750 / 0.750</td><td>1.000 / 0.750 / 0.857</td>" in html
    assert "<td>0.667 / 1.000 / 0.800</td><td>0.750 / 0.750 / 0.750</td>" in html
    assert "0.90 (recall 0.500, 2 labels called)" in html
    assert "0.88 (recall 0.750, 3 labels called)" in html
    assert "Score thresholds compared at 0.60 (chosen)." in html
    for chart_id in ("quality-shadow-calls", "quality-shadow-pr", "quality-shadow-disagreement"):
        assert f'id="{chart_id}-csv"' in html and f'id="{chart_id}-table"' in html
    assert "1 shadow score came without an outcome" in html
    csv = client.get(f"/analytics/quality/?{RANGE}&champion=m1&shadow_model={SHADOW}&shadow_threshold=0.6"
                     "&csv=quality-shadow-disagreement")  # fmt: skip
    assert csv.content.decode().splitlines()[1:3] == [
        "outcome,both call fraud,2,2,0", "outcome,only the champion,2,1,1",
    ]  # fmt: skip


def test_the_page_says_plainly_how_to_deliver_shadow_scores_when_there_are_none():
    labelled_transaction(score=0.9, label="fraud", outcome="block")
    client = client_for(make_user("lea", "lead"))

    html = client.get(f"/analytics/quality/?{RANGE}").content.decode()

    assert 'id="quality-shadow-none"' in html and "<code>shadow/</code>" in html
    assert "quality-shadow-calls" not in html


def test_the_page_says_when_the_shadow_model_scored_none_of_the_labelled():
    comparison_dataset()
    client = client_for(make_user("lea", "lead"))

    html = client.get(f"/analytics/quality/?{RANGE}&champion=m2&shadow_model=m1").content.decode()

    assert 'id="quality-shadow-empty"' in html
    assert "No labelled transaction of m2 in this range has a score from m1" in html
    assert f"Shadow models with scores: m1, {SHADOW}." in html
    assert "quality-shadow-calls" not in html


# The two statements the comparison ran before (each building the pairs through the text id):
# kept here as the reference the single statement must equal.
_OLD_PAIRS = """
WITH pairs AS MATERIALIZED (
    SELECT least(100, floor(f.score * 100 + 1e-9)::int) AS champion_grid,
           f.outcome AS champion_outcome,
           least(100, floor(s.similarity_score * 100 + 1e-9)::int) AS shadow_grid,
           s.outcome AS shadow_outcome, f.label = 'fraud' AS fraud
    FROM analytics_labelfact f
    JOIN cases_transaction t ON t.id = f.transaction_id
    JOIN cases_shadowscore s ON s.transaction_id = t.transaction_id
    WHERE f.day BETWEEN %(since)s AND %(until)s AND f.model_version = %(champion)s
      AND s.model_version = %(shadow_model)s AND t.model_version <> s.model_version
)"""
_OLD_CELLS = (
    _OLD_PAIRS
    + """
SELECT 'champion', champion_grid, champion_outcome, fraud, count(*) FROM pairs GROUP BY 2, 3, 4
UNION ALL
SELECT 'shadow', shadow_grid, shadow_outcome, fraud, count(*) FROM pairs GROUP BY 2, 3, 4"""
)
_OLD_DISAGREEMENT = (
    _OLD_PAIRS
    + """
SELECT champion_outcome = ANY(%(calls)s), shadow_outcome = ANY(%(calls)s),
       champion_grid >= %(grid)s, shadow_grid >= %(grid)s, fraud, count(*)
FROM pairs GROUP BY 1, 2, 3, 4, 5"""
)


def _old_figures(champion: str, shadow: str, grid: int, detector_call: str):
    from django.db import connection

    from analytics.quality.selectors import DETECTOR_CALLS

    params = {"since": NOVEMBER.since, "until": NOVEMBER.until, "champion": champion,
              "shadow_model": shadow, "calls": list(DETECTOR_CALLS[detector_call]),
              "grid": grid}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_OLD_CELLS, params)
        cells = sorted(cursor.fetchall())
        cursor.execute(_OLD_DISAGREEMENT, params)
        found = cursor.fetchall()
    totals: dict[tuple, list[int]] = {}
    for by_outcome_c, by_outcome_s, by_score_c, by_score_s, fraud, count in found:
        for basis, calls in (("outcome", (by_outcome_c, by_outcome_s)),
                             ("score", (by_score_c, by_score_s))):  # fmt: skip
            tally = totals.setdefault((basis, calls), [0, 0])
            tally[0] += count
            tally[1] += count if fraud else 0
    from analytics.quality.shadow import AGREEMENT

    table = [
        (basis, name, *totals.get((basis, calls), [0, 0]))
        for basis in ("outcome", "score")
        for calls, name in AGREEMENT
    ]
    return cells, table


def _new_cells() -> list[tuple]:
    """Both sides' cells from the single statement, as the old one listed them."""
    from django.db import connection

    from analytics.quality import shadow
    from cases.shadow.selectors import shadow_scores_sql

    sql = shadow._PAIRS_SQL.format(grid=100, shadow=shadow_scores_sql(), analyst="")
    params = {"since": NOVEMBER.since, "until": NOVEMBER.until, "champion": "m1",
              "shadow_model": SHADOW}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return sorted(
        [("champion", c_grid, c_outcome, fraud, n)
         for grouping, c_grid, c_outcome, _, _, fraud, n in rows if grouping == 3]
        + [("shadow", s_grid, s_outcome, fraud, n)
           for grouping, _, _, s_grid, s_outcome, fraud, n in rows if grouping == 12]
    )  # fmt: skip


@pytest.mark.parametrize("detector_call", ["block", "flag"])
def test_the_single_statement_equals_the_two_statements_before_it_at_every_threshold(
    detector_call,
):
    comparison_dataset()
    # Ties on the grid and scores at its edges (0 and 1), both sides.
    extra = [labelled_transaction(score=s, label=lb, outcome=o)
             for s, lb, o in ((0.0, "fraud", "approve"), (1.0, "legitimate", "block"),
                             (0.6, "legitimate", "investigate"))]  # fmt: skip
    shadow_scores(SHADOW, {tx.transaction_id: (s, o) for tx, (s, o) in
                           zip(extra, ((1.0, "block"), (0.0, ""), (0.6, "block")), strict=True)})  # fmt: skip

    for threshold in (0.0, 0.05, 0.3, 0.55, 0.6, 0.61, 0.88, 0.97, 1.0):
        c = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9,
                              threshold=threshold, detector_call=detector_call)  # fmt: skip
        old_cells, old_table = _old_figures("m1", SHADOW, round(threshold * 100), detector_call)

        assert _new_cells() == old_cells
        new_table = [
            ("outcome" if d.basis == "outcome" else "score", d.agreement, d.transactions, d.fraud)
            for d in c.disagreement
        ]
        assert new_table == old_table, threshold
        assert sum(d.transactions for d in c.disagreement) == 2 * c.labels == 2 * 11


def test_a_score_before_its_transaction_counts_before_and_after_it_is_linked():
    from django.core.cache import cache

    from cases.models import ShadowScore
    from cases.shadow.services import shadow_scores_link

    comparison_dataset()
    before = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9,
                               threshold=0.6)  # fmt: skip
    # The score comes first (no transaction yet: unlinked), its labelled transaction later.
    shadow_scores(SHADOW, {"tx_b_early": (0.95, "block")})
    tx = labelled_transaction(score=0.7, label="fraud", outcome="approve")
    ShadowScore.objects.filter(transaction_id="tx_b_early").update(transaction_id=tx.transaction_id)
    assert ShadowScore.objects.get(transaction_id=tx.transaction_id).transaction_pk is None

    unlinked = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9,
                                 threshold=0.6)  # fmt: skip
    assert shadow_scores_link() == 1
    assert ShadowScore.objects.get(transaction_id=tx.transaction_id).transaction_pk == tx.pk
    cache.clear()  # linking changes no figure, so no cache key: read the linked rows afresh
    linked = shadow_comparison(NOVEMBER, champion="m1", shadow=SHADOW, target_precision=0.9,
                               threshold=0.6)  # fmt: skip

    for c in (unlinked, linked):
        assert (c.labels, c.fraud_labels) == (before.labels + 1, before.fraud_labels + 1) == (9, 5)
        assert c.shadow.detector.true_positives == before.shadow.detector.true_positives + 1
        assert c.champion.detector.false_negatives == before.champion.detector.false_negatives + 1
        assert c.disagreement[2].transactions == before.disagreement[2].transactions + 1
    assert [vars(d) for d in unlinked.disagreement] == [vars(d) for d in linked.disagreement]
    # The champion's own version and the score whose transaction never came stay unlinked.
    assert sorted(
        ShadowScore.objects.filter(transaction_pk__isnull=True)
        .exclude(model_version="m1")
        .values_list("transaction_id", flat=True)
    ) == ["tx_not_arrived_yet"]
    assert ShadowScore.objects.get(model_version="m1").transaction_pk is None
