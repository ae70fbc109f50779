"""Figures over the label facts cached until a fact of their range changes
(analytics.common.facts_cache): quality, the money page's amounts and curation's countries
equal what their SQL gives on the label facts as they are, after labels are written, changed
and removed."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache

from analytics.common.ranges import DayRange
from analytics.quality.selectors import labels_per_day, quality_report
from analytics.tests.builders import labelled_transaction, quality_dataset
from cases.models import Transaction

pytestmark = pytest.mark.django_db

NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30))


def quality_figures() -> dict:
    report = quality_report(NOVEMBER, target_precision=0.6)
    return {
        "report": {model: asdict(quality) for model, quality in report.items()},
        "per_day": {model: labels_per_day(NOVEMBER, model) for model in report},
    }


def uncached(figures):
    """The figures computed from the label facts afresh (the SQL run, nothing kept)."""
    cache.clear()
    return figures()


def test_quality_is_cached_and_equals_its_sql_after_labels_change(django_assert_num_queries):
    quality_dataset()
    first = quality_figures()
    assert first["report"]["m1"]["labels"] == 10

    with django_assert_num_queries(4):  # the range's changes before each of the 4 cached reads
        assert quality_figures() == first
    assert uncached(quality_figures) == first

    # A new label, a label changed, a label removed: each gives new figures, equal to the SQL's.
    labelled_transaction(score=0.75, label="fraud", outcome="block")
    added = quality_figures()
    assert added["report"]["m1"]["labels"] == 11
    assert added == uncached(quality_figures)

    tx = Transaction.objects.filter(label="legitimate", model_version="m1").order_by("pk").first()
    Transaction.objects.filter(pk=tx.pk).update(label="fraud")
    changed = quality_figures()
    assert changed["report"]["m1"]["fraud_labels"] == added["report"]["m1"]["fraud_labels"] + 1
    assert changed == uncached(quality_figures)

    Transaction.objects.filter(pk=tx.pk).update(label="", labelled_at=None, labelled_by=None)
    removed = quality_figures()
    assert removed["report"]["m1"]["labels"] == 10
    assert removed == uncached(quality_figures)


def test_a_label_outside_the_range_keeps_the_cache(django_assert_num_queries):
    quality_dataset()
    first = quality_figures()
    labelled_transaction(
        score=0.5, label="fraud", outcome="block", occurred_at=datetime(2026, 12, 2, tzinfo=UTC)
    )
    with django_assert_num_queries(4):
        assert quality_figures() == first
