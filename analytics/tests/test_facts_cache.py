"""Figures over the label facts cached until a fact of their range changes
(analytics.common.facts_cache): quality, the money page's amounts and curation's countries
equal what their SQL (money: a reckoning in Python) gives on the label facts as they are,
after labels are written, changed and removed."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection

from analytics.common.ranges import DayRange
from analytics.curation.selectors import top_countries
from analytics.money.selectors import money_per_day
from analytics.quality.selectors import labels_per_day, quality_report
from analytics.rollups import rollups_rebuild
from analytics.tests.builders import labelled_transaction, quality_dataset
from analytics.tests.test_money import expected_money
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


# Curation's SQL before the label facts' part was cached (one statement over the rollups and
# the facts), to compare with.
OLD_COUNTRIES_SQL = """
WITH flagged AS (
    SELECT value AS country, sum(transactions) AS n FROM analytics_categoryrollup
    WHERE dimension = 'country' AND day BETWEEN %(since)s AND %(until)s GROUP BY 1
), labelled AS (
    SELECT country, count(*) AS n, count(*) FILTER (WHERE label = 'fraud') AS fraud
    FROM analytics_labelfact WHERE day BETWEEN %(since)s AND %(until)s GROUP BY 1
)
SELECT coalesce(nullif(flagged.country, ''), '(none)'), flagged.n, coalesce(labelled.n, 0),
       coalesce(labelled.fraud, 0), labelled.fraud::float8 / nullif(labelled.n, 0)
FROM flagged LEFT JOIN labelled USING (country)
ORDER BY flagged.n DESC, 1 LIMIT %(limit)s"""


def old_rows(sql: str, **extra) -> list[list]:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": NOVEMBER.since, "until": NOVEMBER.until, **extra})
        return [list(row) for row in cursor.fetchall()]


def money_and_countries_dataset() -> None:
    """Labelled and unlabelled transactions over three days and countries (a tie in flagged
    volume between two countries, one without a label), blocked by the detector or the
    analyst, and the rollups rebuilt from them."""
    for day, country, label, outcome, decision, amount in [
        (2, "DE", "fraud", "block", "", "120.50"), (2, "DE", "legitimate", "approve", "", "10.00"),
        (2, "FR", "fraud", "investigate", "block", "99.99"), (3, "FR", "", "block", "", "5.00"),
        (3, "", "fraud", "approve", "", "7.25"), (4, "IT", "", "investigate", "", "300.00"),
        (4, "ES", "", "block", "", "1.00"), (5, "AT", "legitimate", "block", "", "42.00"),
    ]:  # fmt: skip
        labelled_transaction(
            score=0.5, label=label, outcome=outcome, decision=decision, amount=amount,
            country=country, occurred_at=datetime(2026, 11, day, 12, tzinfo=UTC),
        )  # fmt: skip
    rollups_rebuild()


def test_money_and_top_countries_equal_their_reckoning_before_and_after_labels_change():
    money_and_countries_dataset()
    flagged = set(Transaction.objects.values_list("pk", flat=True))  # in the rollups

    def check():
        expected = expected_money(NOVEMBER, flagged_ids=flagged)
        assert money_per_day(NOVEMBER) == expected
        assert uncached(lambda: money_per_day(NOVEMBER)) == expected
        assert top_countries(NOVEMBER) == old_rows(OLD_COUNTRIES_SQL, limit=20)
        assert top_countries(NOVEMBER, limit=2) == old_rows(OLD_COUNTRIES_SQL, limit=2)

    check()
    assert money_per_day(NOVEMBER).daily[0] == [
        date(2026, 11, 2), Decimal("230.49"), Decimal("220.49"), Decimal("220.49"), 0,
    ]  # fmt: skip
    # A day with a label and no flagged rollup row (the rollups not rebuilt after this one).
    labelled_transaction(
        score=0.9, label="fraud", outcome="block", amount="3.00", country="PL",
        occurred_at=datetime(2026, 11, 9, 12, tzinfo=UTC),
    )  # fmt: skip
    check()
    tx = Transaction.objects.get(label="legitimate", country="DE")
    Transaction.objects.filter(pk=tx.pk).update(label="fraud")
    check()
    Transaction.objects.filter(country="FR", label="fraud").update(
        label="", labelled_at=None, labelled_by=None
    )
    check()
    assert [row[0] for row in top_countries(NOVEMBER)][:2] == ["DE", "FR"]
