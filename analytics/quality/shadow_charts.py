"""The shadow comparison's charts, each with its table (analytics.common.charts)."""

from __future__ import annotations

from analytics.common.charts import Chart, Trace, grouped_traces
from analytics.quality.shadow import ShadowComparison


def shadow_charts(comparison: ShadowComparison | None) -> list[Chart]:
    if comparison is None:
        return []
    return [_calls(comparison), _pr_curves(comparison), _disagreement(comparison)]


def _sides(c: ShadowComparison):
    return (("champion", c.champion, c.champion_at_threshold),
            ("shadow", c.shadow, c.shadow_at_threshold))  # fmt: skip


def _calls(c: ShadowComparison) -> Chart:
    rows = []
    for role, q, at_threshold in _sides(c):
        name = f"{role}: {q.model_version}"
        rows.append([name, "detector outcome", q.detector.precision, q.detector.recall,
                     q.detector.f1, q.detector.called, q.labels])  # fmt: skip
        rows.append([name, f"score >= {c.threshold:.2f}", at_threshold.precision,
                     at_threshold.recall, at_threshold.f1, at_threshold.called,
                     at_threshold.labels])  # fmt: skip
        point = q.target_threshold
        if point is not None:
            rows.append([name, f"threshold for target: score >= {point.threshold:.2f}",
                         point.precision, point.recall, point.f1, point.called, q.labels])  # fmt: skip
    traces = [
        Trace(name=f"{metric} ({model})", x=[r[1] for r in rows if r[0] == model],
              y=[r[column] for r in rows if r[0] == model])
        for model in dict.fromkeys(r[0] for r in rows)
        for metric, column in (("precision", 2), ("recall", 3), ("F1", 4))
    ]  # fmt: skip
    return Chart(
        "quality-shadow-calls",
        "Champion and shadow on the same transactions: precision, recall, F1",
        ["model", "call", "precision", "recall", "F1", "labels called fraud", "labels"],
        rows, traces, percent=True,
    )  # fmt: skip


def _pr_curves(c: ShadowComparison) -> Chart:
    rows = [
        [f"{role}: {q.model_version}", p.threshold, p.precision, p.recall, p.f1, p.called]
        for role, q, _ in _sides(c) for p in q.curve
    ]  # fmt: skip
    traces = [
        Trace(name=f"{role}: {q.model_version}", x=[p.recall for p in q.curve],
              y=[p.precision for p in q.curve], kind="lines+markers")
        for role, q, _ in _sides(c)
    ]  # fmt: skip
    return Chart(
        "quality-shadow-pr",
        "Precision-recall curves of both models on the same transactions",
        ["model", "threshold", "precision", "recall", "F1", "labels at or above"],
        rows, traces, x_title="recall", y_title="precision", percent=True,
        lines=[{"y": c.champion.target_precision, "label": "target precision"}],
        note="Hover a point for its figures; the table gives each point's threshold.",
    )  # fmt: skip


def _disagreement(c: ShadowComparison) -> Chart:
    rows = [[d.basis, d.agreement, d.transactions, d.fraud, d.legitimate] for d in c.disagreement]
    return Chart(
        "quality-shadow-disagreement",
        "Where the models disagree: labelled transactions each calls fraud, and how many were",
        ["calls by", "who calls fraud", "labelled transactions", "fraud", "legitimate"],
        rows, grouped_traces(rows, x=1, group=0, y=2), x_title="who calls fraud",
        y_title="labelled transactions",
        note="Fraud among those only one model calls is what the other misses (or saves).",
    )  # fmt: skip
