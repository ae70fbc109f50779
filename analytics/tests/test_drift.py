"""Drift: PSI, share changes and the centroid shift with exact numbers on built rollups, and
the checker's alert and drift.detected webhook event (once per day)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest
from django.conf import settings

from analytics.common.ranges import DayRange
from analytics.drift.selectors import drift as drift_of
from analytics.drift.selectors import psi
from analytics.drift.services import drift_check_pending, drift_unit_check
from analytics.models import DriftAlert, DriftCheck
from analytics.rollups import record_chunk
from cases.models import WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db

REFERENCE_DAY, DAY = date(2026, 11, 1), date(2026, 11, 2)


def axis(index: int) -> np.ndarray:
    vector = np.zeros(settings.FRAUDCASE_EMBEDDING_DIM, dtype=np.float32)
    vector[index] = 1.0
    return vector


def rows(day: date, count: int, *, score: float, country: str, embedding: np.ndarray, run_id=1):
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    transactions = [
        SimpleNamespace(occurred_at=moment, model_version="m1", similarity_score=score,
                        amount=Decimal("10.00"), currency="EUR", outcome="block", embedding=embedding,
                        features={"velocity": 0.2}, country=country, channel="ecommerce",
                        merchant_category="5411")
        for _ in range(count)
    ]  # fmt: skip
    record_chunk(run_id=run_id, transactions=transactions)


def built_days():
    # Reference: 50 at score 0.1 and 50 at 0.6, all DE, all along one axis.
    rows(REFERENCE_DAY, 50, score=0.1, country="DE", embedding=axis(0))
    rows(REFERENCE_DAY, 50, score=0.6, country="DE", embedding=axis(0))
    # The day: 20 at 0.1 and 80 at 0.6 (30 of them FR, half along another axis).
    rows(DAY, 20, score=0.1, country="DE", embedding=axis(0), run_id=2)
    rows(DAY, 50, score=0.6, country="DE", embedding=axis(1), run_id=2)
    rows(DAY, 30, score=0.6, country="FR", embedding=axis(0), run_id=2)


def test_psi_of_two_histograms():
    expected = np.array([50, 50, 0.0])
    actual = np.array([20, 80, 0.0])
    assert psi(expected, actual) == pytest.approx(0.3 * math.log(2.5) + 0.3 * math.log(1.6))
    assert psi(expected, actual) == pytest.approx(0.415888, abs=1e-6)
    assert psi(expected, expected) == 0.0
    # An empty bin on one side counts as 0.0001 of it.
    assert psi(np.array([100.0, 0]), np.array([90.0, 10])) == pytest.approx(
        (0.9 - 1) * math.log(0.9) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    )


def test_psi_share_changes_and_centroid_shift_per_day_and_per_batch():
    built_days()

    found = drift_of(DayRange(DAY, DAY), DayRange(REFERENCE_DAY, REFERENCE_DAY))

    (unit,) = found.units
    assert (unit.unit, unit.transactions, found.reference_transactions) == ("2026-11-02", 100, 100)
    assert unit.psi["score"] == pytest.approx(0.415888, abs=1e-6)
    assert unit.psi["velocity"] == 0.0
    assert unit.share_changes[:2] == [
        ("country", "DE", 1.0, pytest.approx(0.7)), ("country", "FR", 0.0, pytest.approx(0.3)),
    ]  # fmt: skip
    assert unit.centroid_shift == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    assert found.shares["country"] == [
        ("DE", 1.0, pytest.approx(0.7)),
        ("FR", 0.0, pytest.approx(0.3)),
    ]

    by_batch = drift_of(
        DayRange(REFERENCE_DAY, DAY), DayRange(REFERENCE_DAY, REFERENCE_DAY), grain="batch"
    )
    assert [(u.unit, u.transactions) for u in by_batch.units] == [("1", 100), ("2", 100)]
    assert by_batch.units[0].psi["score"] == 0.0


def test_the_checker_alerts_once_with_a_webhook_event(settings):
    settings.FRAUDCASE_DRIFT_MIN_ROWS = 50
    settings.FRAUDCASE_DRIFT_REFERENCE_DAYS = 1
    WebhookSubscription.objects.create(
        name="ds", url="https://example.org/h", event_types=["drift.detected"]
    )
    built_days()

    written = drift_check_pending(today=date(2026, 11, 3))

    alerts = {
        (a.scope, a.day, a.measure, a.subject): round(a.value, 4) for a in DriftAlert.objects.all()
    }
    assert alerts == {
        ("day", DAY, "psi", "score"): 0.4159,
        ("day", DAY, "share_change", "country:DE"): -30.0,
        ("day", DAY, "share_change", "country:FR"): 30.0,
        ("day", DAY, "centroid_shift", "embedding"): 0.2929,
    }
    assert written == 4
    (event,) = WebhookEvent.objects.filter(type="drift.detected")
    assert event.payload["scope"] == "day" and event.payload["day"] == "2026-11-02"
    assert {m["subject"] for m in event.payload["measures"]} == {
        "score",
        "country:DE",
        "country:FR",
        "embedding",
    }
    assert DriftCheck.objects.filter(scope="day", day=DAY).get().alerts == 4

    assert drift_unit_check(scope="day", day=DAY) == 0  # judged once
    assert drift_check_pending(today=date(2026, 11, 3)) == 0
    assert DriftAlert.objects.count() == 4 and WebhookEvent.objects.count() == 1


def test_histograms_of_several_batches_on_a_day_sum_bin_by_bin():
    # Three batches share the day (and two the reference day): each bin of the day is the sum of
    # the batches' bins, so PSI equals numpy's histogram of all the day's scores.
    reference_scores = [0.02, 0.07, 0.33, 0.33, 0.5, 0.51, 0.99, 1.0]
    day_scores = [0.02, 0.33, 0.34, 0.6, 0.61, 0.62, 0.9, 0.95, 0.97, 1.0]
    for index, score in enumerate(reference_scores):
        rows(REFERENCE_DAY, 3, score=score, country="DE", embedding=axis(0), run_id=1 + index % 2)
    for index, score in enumerate(day_scores):
        rows(DAY, 2 + index, score=score, country="DE", embedding=axis(0), run_id=3 + index % 3)

    found = drift_of(DayRange(DAY, DAY), DayRange(REFERENCE_DAY, REFERENCE_DAY))

    def histogram(scores, weights):
        bins = np.minimum(19, np.floor(np.array(scores) * 20).astype(int))
        return np.bincount(bins, weights=weights, minlength=20)

    expected = histogram(reference_scores, [3] * len(reference_scores))
    actual = histogram(day_scores, [2 + i for i in range(len(day_scores))])
    (unit,) = found.units
    assert (unit.transactions, found.reference_transactions) == (actual.sum(), 24)
    assert unit.psi["score"] == pytest.approx(psi(expected, actual), abs=1e-12)
    assert unit.psi["score"] == pytest.approx(6.296734, abs=1e-6)
