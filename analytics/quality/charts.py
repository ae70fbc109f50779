"""The quality dashboard's charts, each with its table (analytics.common.charts)."""

from __future__ import annotations

from analytics.common.charts import Chart, Trace, grouped_traces, series_traces
from analytics.common.ranges import DayRange
from analytics.quality.selectors import ModelQuality, labels_per_day


def quality_charts(
    report: dict[str, ModelQuality], chosen: list[ModelQuality], day_range: DayRange
):
    charts = [_versions(report), _calls(chosen), _pr_curve(chosen)]
    charts += [_confusion(quality, index) for index, quality in enumerate(chosen)]
    charts += [_delay(chosen)]
    if chosen:
        charts.append(_per_day(chosen[0], day_range))
    return charts


def _versions(report: dict[str, ModelQuality]) -> Chart:
    rows = [
        [q.model_version, q.labels, q.fraud_labels, q.detector.precision, q.detector.recall,
         q.detector.f1, q.neighbour.precision, q.neighbour.recall, q.neighbour.labels,
         q.target_threshold.threshold if q.target_threshold else None,
         q.target_threshold.recall if q.target_threshold else None]
        for q in report.values()
    ]  # fmt: skip
    return Chart(
        "quality-versions", "The detector's outcome per model version",
        ["model version", "labels", "fraud labels", "precision", "recall", "F1",
         "neighbour precision", "neighbour recall", "labels with a neighbour verdict",
         "threshold for target precision", "recall at that threshold"],
        rows, series_traces(rows, x=0, series={"precision": 3, "recall": 4, "F1": 5}),
        x_title="model version", percent=True,
    )  # fmt: skip


def _calls(chosen: list[ModelQuality]) -> Chart:
    rows = []
    for q in chosen:
        rows.append([q.model_version, "detector outcome", q.detector.precision, q.detector.recall,
                     q.detector.f1, q.detector.labels])  # fmt: skip
        rows.append([q.model_version, "neighbour verdict", q.neighbour.precision,
                     q.neighbour.recall, q.neighbour.f1, q.neighbour.labels])  # fmt: skip
        for name, point in (("threshold for target", q.target_threshold), ("best F1", q.best_f1)):
            if point is not None:
                rows.append([q.model_version, f"{name}: score >= {point.threshold:.2f}",
                             point.precision, point.recall, point.f1, q.labels])  # fmt: skip
    traces = [
        Trace(name=f"{metric} ({model})", x=[r[1] for r in rows if r[0] == model],
              y=[r[column] for r in rows if r[0] == model])
        for model in dict.fromkeys(r[0] for r in rows)
        for metric, column in (("precision", 2), ("recall", 3))
    ]  # fmt: skip
    return Chart(
        "quality-calls",
        "Ways of calling fraud: the outcome, the neighbours, a score threshold",
        ["model version", "call", "precision", "recall", "F1", "labels"],
        rows,
        traces,
        percent=True,
    )


def _pr_curve(chosen: list[ModelQuality]) -> Chart:
    rows = [
        [q.model_version, p.threshold, p.precision, p.recall, p.f1, p.called]
        for q in chosen for p in q.curve
    ]  # fmt: skip
    traces = [
        Trace(name=q.model_version, x=[p.recall for p in q.curve],
              y=[p.precision for p in q.curve], kind="lines+markers")
        for q in chosen
    ]  # fmt: skip
    lines = [{"y": chosen[0].target_precision, "label": "target precision"}] if chosen else []
    return Chart(
        "quality-pr",
        "Precision-recall curve (score >= threshold calls fraud)",
        ["model version", "threshold", "precision", "recall", "F1", "labels at or above"],
        rows,
        traces,
        x_title="recall",
        y_title="precision",
        percent=True,
        lines=lines,
        note="Hover a point for its figures; the table gives each point's threshold.",
    )


def _confusion(q: ModelQuality, index: int) -> Chart:
    d = q.detector
    rows = [["legitimate", d.true_negatives, d.false_positives],
            ["fraud", d.false_negatives, d.true_positives]]  # fmt: skip
    # Grouped bars, one per call, over the analyst's label: the matrix's four cells, each
    # readable on hover and in the table (a heatmap needs a data: image, refused by the CSP).
    return Chart(
        f"quality-confusion-{index + 1}",
        f"Confusion matrix, {q.model_version} (detector outcome)",
        ["analyst label", "called legitimate", "called fraud"],
        rows,
        series_traces(rows, x=0, series={"called legitimate": 1, "called fraud": 2}),
        x_title="analyst label",
        y_title="labelled transactions",
    )


def _delay(chosen: list[ModelQuality]) -> Chart:
    rows = [[q.model_version, name, labels] for q in chosen for name, labels in q.delay]
    return Chart(
        "quality-delay",
        "Label delay: from the transaction to its label",
        ["model version", "delay", "labels"],
        rows,
        grouped_traces(rows, x=1, group=0, y=2),
        x_title="delay",
        y_title="labels",
        note=" · ".join(
            f"{q.model_version}: mean {q.mean_delay_hours:.1f} h"
            for q in chosen
            if q.mean_delay_hours is not None
        ),  # fmt: skip
    )


def _per_day(q: ModelQuality, day_range: DayRange) -> Chart:
    rows = [list(row) for row in labels_per_day(day_range, q.model_version)]
    return Chart(
        "quality-per-day",
        f"Labels per day, {q.model_version} (by the transaction's day)",
        ["day", "fraud", "legitimate"],
        rows,
        series_traces(rows, x=0, series={"fraud": 1, "legitimate": 2}),
        y_title="labels",
        stacked=True,
    )
