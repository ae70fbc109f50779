"""Drift per ingest batch or per day against a reference window (reads the rollups only).

- PSI (population stability index) of the score and of each numeric feature: the rollups'
  fixed bins summed over the reference window and over each batch or day, then
  sum((actual - expected) * ln(actual / expected)) over the bins, an empty bin counted as
  PSI_EPSILON of its side. Below 0.1 is usually read as stable, above 0.25 as a real shift.
- Categorical shares (country, channel, merchant category) and their change in points.
- The embedding centroid's shift: the cosine distance between the unit's mean embedding and
  the reference's (pgvector, on the rollups' sums: a scale does not change a cosine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.db import connection
from django.db.models import Q

from analytics.common.ranges import DayRange
from analytics.models import (
    CATEGORY_DIMENSIONS,
    FEATURE_BINS,
    SCORE_BINS,
    DriftAlert,
    DriftScope,
)

PSI_EPSILON = 1e-4
SCORE = "score"  # the subject name of the score among the features


def psi(expected: np.ndarray, actual: np.ndarray) -> float | None:
    """Population stability index of two histograms over the same bins (counts)."""
    expected_total, actual_total = expected.sum(), actual.sum()
    if not expected_total or not actual_total:
        return None
    e = np.maximum(expected / expected_total, PSI_EPSILON)
    a = np.maximum(actual / actual_total, PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def _unit(grain: str) -> str:
    return "r.day" if grain == "day" else "r.run_id"


def _bin_sums(column: str, bins: int) -> str:
    """The element-wise sum of a histogram column over a group, as one array: a sum per bin
    (ten times faster than unnesting every row's bins and grouping by position). Each row's
    bin is summed as int4 (bigint accumulator; a run's day never holds 2^31 transactions)."""
    return "ARRAY[" + ", ".join(f"sum({column}[{b}]::int4)" for b in range(1, bins + 1)) + "]"


# Histograms summed element-wise per unit (day or batch) and subject, and for the reference.
_HISTOGRAMS_SQL = f"""
SELECT {{unit}}::text, 'score', {_bin_sums("r.score_histogram", SCORE_BINS)}
FROM analytics_batchrollup r WHERE {{where}} GROUP BY 1
UNION ALL
SELECT {{unit}}::text, r.feature, {_bin_sums("r.histogram", FEATURE_BINS)}
FROM analytics_featurerollup r WHERE {{where}} GROUP BY 1, 2
"""

_CENTROID_SQL = """
WITH reference AS (
    SELECT sum(r.embedding_sum) AS total FROM analytics_batchrollup r
    WHERE r.day BETWEEN %(ref_since)s AND %(ref_until)s AND r.embeddings > 0
), units AS (
    SELECT {unit} AS unit, sum(r.embedding_sum) AS total, sum(r.embeddings) AS n,
           sum(r.transactions) AS transactions, min(r.day) AS first_day
    FROM analytics_batchrollup r WHERE {where} GROUP BY 1
)
SELECT units.unit::text, units.transactions, units.n, units.first_day,
       CASE WHEN units.total IS NULL OR reference.total IS NULL THEN NULL
            ELSE units.total <=> reference.total END
FROM units CROSS JOIN reference ORDER BY units.first_day, units.unit
"""

_CATEGORIES_SQL = """
SELECT {unit}::text, r.dimension, r.value, sum(r.transactions)
FROM analytics_categoryrollup r WHERE {where} GROUP BY 1, 2, 3
"""


@dataclass
class DriftUnit:
    """A batch (ingest run id) or a day, with its measures against the reference."""

    unit: str
    first_day: date
    transactions: int
    embeddings: int
    centroid_shift: float | None
    psi: dict[str, float | None] = field(default_factory=dict)
    share_changes: list[tuple[str, str, float, float]] = field(default_factory=list)

    @property
    def worst_psi(self) -> float | None:
        values = [v for v in self.psi.values() if v is not None]
        return max(values) if values else None


@dataclass
class Drift:
    grain: str
    day_range: DayRange
    reference: DayRange
    units: list[DriftUnit]
    subjects: list[str]  # the score first, then features by name
    reference_transactions: int
    # dimension -> [(value, reference share, range share)], biggest change first
    shares: dict[str, list[tuple[str, float, float]]]


def drift(
    day_range: DayRange,
    reference: DayRange,
    *,
    grain: str = "day",
    run_ids: list[int] | None = None,
) -> Drift:
    """Measures of each day (grain="day") or ingest batch ("batch") in the range against the
    reference window; run_ids limits the batches (the alert checker's one batch)."""
    unit = _unit(grain)
    params = {"since": day_range.since, "until": day_range.until,
              "ref_since": reference.since, "ref_until": reference.until, "runs": run_ids}  # fmt: skip
    where = "r.day BETWEEN %(since)s AND %(until)s"
    if run_ids is not None:
        where += " AND r.run_id = ANY(%(runs)s)"
    ref_where = "r.day BETWEEN %(ref_since)s AND %(ref_until)s"
    with connection.cursor() as cursor:
        cursor.execute(_CENTROID_SQL.format(unit=unit, where=where), params)
        units = [
            DriftUnit(unit=u, transactions=int(n_tx), embeddings=int(n), first_day=first,
                      centroid_shift=None if shift is None else float(shift))
            for u, n_tx, n, first, shift in cursor.fetchall()
        ]  # fmt: skip
        cursor.execute(_HISTOGRAMS_SQL.format(unit=unit, where=where), params)
        histograms = cursor.fetchall()
        cursor.execute(_HISTOGRAMS_SQL.format(unit="0", where=ref_where), params)
        reference_histograms = {
            subject: np.array(h, dtype=float) for _, subject, h in cursor.fetchall()
        }
        cursor.execute(_CATEGORIES_SQL.format(unit=unit, where=where), params)
        categories = cursor.fetchall()
        cursor.execute(_CATEGORIES_SQL.format(unit="0", where=ref_where), params)
        reference_categories = cursor.fetchall()
    by_unit = {u.unit: u for u in units}
    for u, subject, histogram in histograms:
        if u in by_unit:
            expected = reference_histograms.get(subject)
            by_unit[u].psi[subject] = (
                None if expected is None else psi(expected, np.array(histogram, dtype=float))
            )
    reference_counts = _shares(reference_categories)
    unit_counts: dict[str, list] = {}
    for row in categories:
        unit_counts.setdefault(row[0], []).append(row)
    for u, rows in unit_counts.items():
        if u in by_unit:
            by_unit[u].share_changes = _changes(reference_counts, _shares(rows))
    range_counts = _shares([("0", d, v, n) for _, d, v, n in categories])
    subjects = [SCORE] + sorted({s for _, s, _ in histograms} - {SCORE})
    reference_total = int(reference_histograms[SCORE].sum()) if SCORE in reference_histograms else 0
    return Drift(
        grain=grain, day_range=day_range, reference=reference, units=units, subjects=subjects,
        reference_transactions=reference_total,
        shares={dimension: _share_table(reference_counts, range_counts, dimension)
                for dimension in CATEGORY_DIMENSIONS},
    )  # fmt: skip


def _shares(rows) -> dict[str, dict[str, float]]:
    """[(unit, dimension, value, n)] -> {dimension: {value: share}}."""
    counts: dict[str, dict[str, int]] = {}
    for _, dimension, value, n in rows:
        counts.setdefault(dimension, {})
        counts[dimension][value] = counts[dimension].get(value, 0) + int(n)
    return {
        dimension: {value: n / sum(values.values()) for value, n in values.items()}
        for dimension, values in counts.items()
    }


def _changes(reference, actual) -> list[tuple[str, str, float, float]]:
    """(dimension, value, reference share, actual share), biggest change first."""
    changes = []
    for dimension in CATEGORY_DIMENSIONS:
        ref, now = reference.get(dimension, {}), actual.get(dimension, {})
        for value in set(ref) | set(now):
            changes.append((dimension, value, ref.get(value, 0.0), now.get(value, 0.0)))
    return sorted(changes, key=lambda c: (-abs(c[3] - c[2]), c[0], c[1]))


def _share_table(reference, actual, dimension: str, limit: int = 15):
    ref, now = reference.get(dimension, {}), actual.get(dimension, {})
    values = sorted(set(ref) | set(now), key=lambda v: (-max(ref.get(v, 0), now.get(v, 0)), v))
    return [(value, ref.get(value, 0.0), now.get(value, 0.0)) for value in values[:limit]]


def drift_alerts(day_range: DayRange, *, limit: int = 200):
    """Alerts about the days in the range and the batches whose first day is in it."""
    return DriftAlert.objects.filter(
        Q(scope=DriftScope.DAY, day__gte=day_range.since, day__lte=day_range.until)
        | Q(
            scope=DriftScope.BATCH,
            reference_to__gte=day_range.since - timedelta(days=1),
            reference_to__lte=day_range.until - timedelta(days=1),
        )
    ).order_by("-created_at", "-id")[:limit]
