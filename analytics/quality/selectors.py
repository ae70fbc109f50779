"""The detector's quality against analyst truth, per model version (reads LabelFact only).

One GROUP BY turns the labels of a range into cells: (model version, score on a 0.01 grid,
detector outcome, neighbour verdict, label) -> count. scikit-learn's metrics then run on those
few hundred cells with the counts as sample weights, which gives exactly the figures they
would give on every label (no label is loaded into Python). Thresholds are on the same 0.01
grid: "score >= t" for t = 0.00, 0.01, ... 1.00.

The cells, delays and labels per day read every label fact of the range (~1 s at 200k
labels), so their rows are cached until a fact of the range changes
(analytics.common.facts_cache): the first request after a label is written pays that again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from sklearn.metrics import (
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from analytics.common.facts_cache import label_fact_rows
from analytics.common.ranges import DayRange

GRID = 100  # thresholds per unit of score
# What counts as the detector calling fraud: its "block" (default), or block or investigate.
DETECTOR_CALLS = {"block": ("block",), "flag": ("block", "investigate")}
# Label delay (labelled_at - occurred_at) buckets: upper bounds in hours and their names.
DELAY_BUCKETS = ((1, "< 1 h"), (4, "1-4 h"), (24, "4-24 h"), (72, "1-3 days"), (168, "3-7 days"),
                 (720, "7-30 days"), (None, "> 30 days"))  # fmt: skip

_CELLS_SQL = f"""
SELECT f.model_version, least({GRID}, floor(f.score * {GRID} + 1e-9)::int) AS grid,
       f.outcome,
       CASE WHEN f.neighbour_share IS NULL THEN -1 WHEN f.neighbour_share >= 0.5 THEN 1 ELSE 0 END,
       f.label = 'fraud', count(*)
FROM analytics_labelfact f
WHERE f.day BETWEEN %(since)s AND %(until)s {{analyst}}
GROUP BY 1, 2, 3, 4, 5
"""

_DELAY_SQL = """
SELECT f.model_version, width_bucket(extract(epoch FROM f.labelled_at - f.occurred_at) / 3600.0,
                                     %(bounds)s::float8[]) AS bucket, count(*),
       sum(extract(epoch FROM f.labelled_at - f.occurred_at)) / 3600.0
FROM analytics_labelfact f
WHERE f.day BETWEEN %(since)s AND %(until)s AND f.labelled_at IS NOT NULL {analyst}
GROUP BY 1, 2
"""

_PER_DAY_SQL = """
SELECT f.day, count(*) FILTER (WHERE f.label = 'fraud'), count(*) FILTER (WHERE f.label <> 'fraud')
FROM analytics_labelfact f
WHERE f.day BETWEEN %(since)s AND %(until)s AND f.model_version = %(model)s {analyst}
GROUP BY 1 ORDER BY 1
"""


@dataclass
class Cells:
    """A model version's labels as weighted cells (numpy arrays of equal length)."""

    grid: np.ndarray  # score bin: score >= grid / GRID
    outcome: np.ndarray
    neighbour: np.ndarray  # 1 says fraud, 0 says legitimate, -1 no verdict
    fraud: np.ndarray  # the analyst's label (bool)
    count: np.ndarray

    @property
    def labels(self) -> int:
        return int(self.count.sum())

    @property
    def fraud_labels(self) -> int:
        return int(self.count[self.fraud].sum())


@dataclass
class Scores:
    """Precision, recall and F1 of one way of calling fraud, and what they rest on."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    labels: int  # the labels these figures rest on

    @property
    def called(self) -> int:
        return self.true_positives + self.false_positives


@dataclass
class CurvePoint:
    threshold: float
    precision: float
    recall: float
    f1: float
    called: int  # labels with score >= threshold


@dataclass
class ModelQuality:
    model_version: str
    labels: int
    fraud_labels: int
    detector: Scores
    neighbour: Scores
    no_neighbour_verdict: int
    curve: list[CurvePoint]
    target_precision: float
    target_threshold: CurvePoint | None  # the lowest threshold reaching the target precision
    best_f1: CurvePoint | None
    delay: list[tuple[str, int]] = field(default_factory=list)
    mean_delay_hours: float | None = None
    per_day: list[tuple] = field(default_factory=list)
    few_labels: bool = False

    # Figures resting on a part of the labels only, each warned about on its own: the
    # neighbour verdict (labels that had one) and the threshold's precision (labels called).
    @property
    def few_neighbour_labels(self) -> bool:
        return self.neighbour.labels < settings.FRAUDCASE_ANALYTICS_MIN_LABELS

    @property
    def few_threshold_labels(self) -> bool:
        point = self.target_threshold
        return point is not None and point.called < settings.FRAUDCASE_ANALYTICS_MIN_LABELS


def _analyst_clause(analyst_id: int | None) -> str:
    return "" if analyst_id is None else "AND f.labelled_by_id = %(analyst)s"


def label_cells(day_range: DayRange, *, analyst_id: int | None = None) -> dict[str, Cells]:
    """The range's labels (by the transaction's day) as cells, per model version."""
    rows: dict[str, list[tuple]] = {}
    found = label_fact_rows(
        "quality-cells",
        _CELLS_SQL.format(analyst=_analyst_clause(analyst_id)),
        {"since": day_range.since, "until": day_range.until, "analyst": analyst_id},
        day_range,
    )
    for model, grid, outcome, neighbour, fraud, count in found:
        rows.setdefault(model, []).append((grid, outcome, neighbour, fraud, count))
    return {
        model: Cells(
            grid=np.array([r[0] for r in cells], dtype=np.int64),
            outcome=np.array([r[1] for r in cells], dtype=object),
            neighbour=np.array([r[2] for r in cells], dtype=np.int64),
            fraud=np.array([r[3] for r in cells], dtype=bool),
            count=np.array([r[4] for r in cells], dtype=np.int64),
        )
        for model, cells in sorted(rows.items())
    }


def scores(truth: np.ndarray, called: np.ndarray, weights: np.ndarray) -> Scores:
    """scikit-learn's precision, recall, F1 and confusion matrix on weighted cells."""
    if not weights.sum():
        return Scores(0.0, 0.0, 0.0, 0, 0, 0, 0, 0)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, called, average="binary", sample_weight=weights, zero_division=0, pos_label=True
    )
    (tn, fp), (fn, tp) = confusion_matrix(
        truth, called, labels=[False, True], sample_weight=weights
    )
    return Scores(
        float(precision),
        float(recall),
        float(f1),
        int(tp),
        int(fp),
        int(fn),
        int(tn),
        int(weights.sum()),
    )


def pr_curve(cells: Cells) -> list[CurvePoint]:
    """scikit-learn's precision-recall curve on the grid scores (one point per threshold that
    changes something), lowest threshold first."""
    if not cells.labels or not cells.fraud_labels:
        return []
    precision, recall, thresholds = precision_recall_curve(
        cells.fraud, cells.grid / GRID, sample_weight=cells.count
    )
    points = []
    for p, r, t in zip(precision[:-1], recall[:-1], thresholds, strict=True):
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        called = int(cells.count[cells.grid >= round(t * GRID)].sum())
        points.append(CurvePoint(round(float(t), 2), float(p), float(r), float(f1), called))
    return points


def model_quality(
    cells: Cells, *, model_version: str, target_precision: float, detector_call: str = "block"
) -> ModelQuality:
    detector = scores(
        cells.fraud, np.isin(cells.outcome, DETECTOR_CALLS[detector_call]), cells.count
    )
    has_verdict = cells.neighbour >= 0
    neighbour = scores(
        cells.fraud[has_verdict], cells.neighbour[has_verdict] == 1, cells.count[has_verdict]
    )
    curve = pr_curve(cells)
    reaching = [point for point in curve if point.precision >= target_precision]
    return ModelQuality(
        model_version=model_version, labels=cells.labels, fraud_labels=cells.fraud_labels,
        detector=detector, neighbour=neighbour,
        no_neighbour_verdict=int(cells.count[~has_verdict].sum()), curve=curve,
        target_precision=target_precision,
        target_threshold=min(reaching, key=lambda point: point.threshold) if reaching else None,
        best_f1=max(curve, key=lambda point: (point.f1, -point.threshold)) if curve else None,
        few_labels=cells.labels < settings.FRAUDCASE_ANALYTICS_MIN_LABELS,
    )  # fmt: skip


def label_delays(day_range: DayRange, *, analyst_id: int | None = None) -> dict[str, tuple]:
    """Per model version: [(bucket name, labels)] and the mean delay in hours."""
    bounds = [float(bound) for bound, _ in DELAY_BUCKETS if bound is not None]
    found: dict[str, dict[int, int]] = {}
    hours: dict[str, list[float]] = {}
    rows = label_fact_rows(
        "quality-delays",
        _DELAY_SQL.format(analyst=_analyst_clause(analyst_id)),
        {"since": day_range.since, "until": day_range.until, "bounds": bounds,
         "analyst": analyst_id},
        day_range,
    )  # fmt: skip
    for model, bucket, count, total_hours in rows:
        found.setdefault(model, {})[bucket] = count
        totals = hours.setdefault(model, [0.0, 0.0])
        totals[0] += float(total_hours)
        totals[1] += count
    # width_bucket: how many bounds are <= the delay, so bucket i is DELAY_BUCKETS[i].
    return {
        model: (
            [(name, by_bucket.get(index, 0)) for index, (_, name) in enumerate(DELAY_BUCKETS)],
            hours[model][0] / hours[model][1] if hours[model][1] else None,
        )
        for model, by_bucket in found.items()
    }  # fmt: skip


def labels_per_day(day_range: DayRange, model_version: str, *, analyst_id: int | None = None):
    return label_fact_rows(
        "quality-per-day",
        _PER_DAY_SQL.format(analyst=_analyst_clause(analyst_id)),
        {"since": day_range.since, "until": day_range.until, "model": model_version,
         "analyst": analyst_id},
        day_range,
    )  # fmt: skip


def quality_report(
    day_range: DayRange,
    *,
    target_precision: float,
    detector_call: str = "block",
    analyst_id: int | None = None,
) -> dict[str, ModelQuality]:
    """Every model version with labels in the range, by name, with its delays."""
    delays = label_delays(day_range, analyst_id=analyst_id)
    report = {}
    for model, cells in label_cells(day_range, analyst_id=analyst_id).items():
        quality = model_quality(
            cells, model_version=model, target_precision=target_precision,
            detector_call=detector_call,
        )  # fmt: skip
        quality.delay, quality.mean_delay_hours = delays.get(model, ([], None))
        report[model] = quality
    return report
