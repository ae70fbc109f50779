"""Detector quality from analyst truth: exact figures on a small built dataset, equal to
scikit-learn's on the raw labels (the SQL cells and weights change nothing)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, precision_score, recall_score

from analytics.common.ranges import DayRange
from analytics.quality.selectors import quality_report
from analytics.tests.builders import QUALITY_ROWS, quality_dataset

pytestmark = pytest.mark.django_db

NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30))


def test_detector_outcome_precision_recall_f1_and_confusion_matrix():
    quality_dataset()

    report = quality_report(NOVEMBER, target_precision=0.9)

    assert sorted(report) == ["m1", "m2"]
    m1 = report["m1"]
    assert (m1.labels, m1.fraud_labels) == (10, 5)  # the October label is outside the range
    d = m1.detector
    assert (d.true_positives, d.false_positives, d.false_negatives, d.true_negatives) == (
        3,
        1,
        2,
        4,
    )
    assert (d.precision, d.recall) == (0.75, 0.6)
    assert d.f1 == pytest.approx(2 / 3)
    truth = np.array([label == "fraud" for _, label, _, _ in QUALITY_ROWS])
    called = np.array([outcome == "block" for _, _, outcome, _ in QUALITY_ROWS])
    assert d.precision == precision_score(truth, called)
    assert d.recall == recall_score(truth, called)
    assert m1.few_labels and report["m2"].labels == 2

    flagged = quality_report(NOVEMBER, target_precision=0.9, detector_call="flag")["m1"].detector
    assert (flagged.true_positives, flagged.false_positives) == (4, 3)  # + investigate


def test_the_pr_curve_and_the_threshold_for_a_target_precision():
    quality_dataset()

    m1 = quality_report(NOVEMBER, target_precision=0.9)["m1"]

    points = [(p.threshold, round(p.precision, 4), p.recall, p.called) for p in m1.curve]
    assert points == [
        (0.2, 0.5, 1.0, 10), (0.3, 0.5556, 1.0, 9), (0.4, 0.5, 0.8, 8), (0.5, 0.5714, 0.8, 7),
        (0.6, 0.6667, 0.8, 6), (0.7, 0.6, 0.6, 5), (0.8, 0.75, 0.6, 4), (0.85, 0.6667, 0.4, 3),
        (0.9, 1.0, 0.4, 2), (0.95, 1.0, 0.2, 1),
    ]  # fmt: skip
    truth = [label == "fraud" for _, label, _, _ in QUALITY_ROWS]
    precision, recall, thresholds = precision_recall_curve(truth, [r[0] for r in QUALITY_ROWS])
    assert [p.precision for p in m1.curve] == pytest.approx(list(precision[:-1]))
    assert [p.recall for p in m1.curve] == pytest.approx(list(recall[:-1]))
    assert [p.threshold for p in m1.curve] == pytest.approx(list(thresholds))
    assert m1.target_threshold.threshold == 0.9 and m1.target_threshold.recall == 0.4
    assert m1.best_f1.threshold == 0.6 and m1.best_f1.f1 == pytest.approx(8 / 11)


def test_the_neighbour_verdicts_own_precision_and_recall():
    quality_dataset()

    m1 = quality_report(NOVEMBER, target_precision=0.9)["m1"]

    n = m1.neighbour
    assert (n.true_positives, n.false_positives, n.false_negatives, n.true_negatives) == (
        3,
        2,
        1,
        2,
    )
    assert (n.precision, n.recall, n.labels, m1.no_neighbour_verdict) == (0.6, 0.75, 8, 2)


def test_label_delay_buckets_and_an_analysts_own_figures():
    from cases.tests.workflow_fixtures import make_user

    ana = make_user("ana", "analyst")
    quality_dataset(analyst=ana)

    m1 = quality_report(NOVEMBER, target_precision=0.9)["m1"]
    assert dict(m1.delay) == {"< 1 h": 2, "1-4 h": 2, "4-24 h": 2, "1-3 days": 2, "3-7 days": 2,
                              "7-30 days": 0, "> 30 days": 0}  # fmt: skip
    assert m1.mean_delay_hours == pytest.approx((0.5 + 2 + 10 + 30 + 100) / 5)
    assert quality_report(NOVEMBER, target_precision=0.9, analyst_id=ana.pk)["m1"].labels == 10
    assert quality_report(NOVEMBER, target_precision=0.9, analyst_id=ana.pk + 1000) == {}


def test_figures_resting_on_part_of_the_labels_are_warned_about_on_their_own(settings):
    quality_dataset()
    settings.FRAUDCASE_ANALYTICS_MIN_LABELS = 8  # m1 has 10 labels: enough as a whole

    m1 = quality_report(NOVEMBER, target_precision=0.9)["m1"]

    assert not m1.few_labels
    assert m1.neighbour.labels == 8 and not m1.few_neighbour_labels  # 2 without a verdict
    assert m1.target_threshold.called == 2 and m1.few_threshold_labels  # score >= 0.9
    settings.FRAUDCASE_ANALYTICS_MIN_LABELS = 9
    m1 = quality_report(NOVEMBER, target_precision=0.9)["m1"]
    assert m1.few_neighbour_labels and not m1.few_labels


def test_the_page_warns_about_the_neighbour_verdict_and_threshold_resting_on_few(settings):
    from django.core.cache import cache

    from cases.tests.workflow_fixtures import make_user
    from conftest import client_for

    cache.clear()
    quality_dataset()
    settings.FRAUDCASE_ANALYTICS_MIN_LABELS = 9
    client = client_for(make_user("lea", "lead"))

    html = client.get(
        "/analytics/quality/?since=2026-11-01&until=2026-11-30&model_a=m1&model_b=m2"
        "&target_precision=0.9"
    ).content.decode()

    assert 'id="quality-few-neighbour-1"' in html and "rest on 8 labels with a verdict" in html
    assert 'id="quality-few-threshold-1"' in html and "calls 2 labels fraud" in html
    # Side by side with the other version, each on its own labels, said so.
    assert 'id="quality-side-by-side"' in html and "(10 and 2 labels)" in html
