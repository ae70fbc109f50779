"""A dashboard chart: the figures behind it as a table (shown for screen readers, downloaded as
CSV) and the plotly traces drawn from the same figures (static/js/dashboards.js).

Each cell is turned into text once (cell_text), and the table and the CSV both show that text,
so the CSV of a chart is its table, cell for cell.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone


def cell_text(value) -> str:
    """A figure as the table and the CSV show it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def plain(value):
    """A figure for the chart's JSON (numbers stay numbers)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return cell_text(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


@dataclass
class Trace:
    """One plotly trace: name, x and y, kind bar / line / markers."""

    name: str
    x: list
    y: list
    kind: str = "bar"
    axis: str = ""  # "y2": the right-hand axis

    def spec(self) -> dict:
        spec = {"name": self.name, "x": [plain(v) for v in self.x], "kind": self.kind,
                "y": [plain(v) for v in self.y]}  # fmt: skip
        if self.axis:
            spec["axis"] = self.axis
        return spec


@dataclass
class Chart:
    """A chart and its table. chart_id is unique on its page (the CSV is ?csv=<chart_id>)."""

    chart_id: str
    title: str
    columns: list[str]
    rows: list[list]
    traces: list[Trace] = field(default_factory=list)
    x_title: str = ""
    y_title: str = ""
    stacked: bool = False
    percent: bool = False  # y in [0, 1], shown as percentages
    note: str = ""
    lines: list[dict] = field(default_factory=list)  # {"y": threshold, "label": ...}

    @property
    def text_rows(self) -> list[list[str]]:
        return [[cell_text(value) for value in row] for row in self.rows]

    @property
    def points(self) -> int:
        return sum(len(trace.x) for trace in self.traces)

    def spec(self) -> dict:
        return {
            "id": self.chart_id, "traces": [trace.spec() for trace in self.traces],
            "x_title": self.x_title, "y_title": self.y_title, "stacked": self.stacked,
            "percent": self.percent, "lines": self.lines,
        }  # fmt: skip

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.text_rows)
        return out.getvalue()


def series_traces(rows: list[list], *, x: int, series: dict[str, int], kind: str = "bar"):
    """Traces from table rows: x from column x, one trace per named column."""
    return [
        Trace(name=name, x=[row[x] for row in rows], y=[row[column] for row in rows], kind=kind)
        for name, column in series.items()
    ]


def grouped_traces(rows: list[list], *, x: int, group: int, y: int, kind: str = "bar"):
    """Traces from long table rows: one trace per value of column group (in first-seen order)."""
    traces: dict[str, Trace] = {}
    for row in rows:
        name = cell_text(row[group]) or "(none)"
        trace = traces.setdefault(name, Trace(name=name, x=[], y=[], kind=kind))
        trace.x.append(row[x])
        trace.y.append(row[y])
    return list(traces.values())
