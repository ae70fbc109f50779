"""The drift dashboard's charts, each with its table."""

from __future__ import annotations

from analytics.common.charts import Chart, Trace
from analytics.drift.selectors import Drift
from analytics.drift.services import Thresholds

DIMENSION_NAMES = {"country": "Country", "channel": "Channel", "merchant_category": "Merchant category"}  # fmt: skip


def drift_charts(found: Drift, thresholds: Thresholds) -> list[Chart]:
    unit_name = "day" if found.grain == "day" else "ingest run"
    units = [u.unit for u in found.units]
    psi_rows = [
        [u.unit, u.transactions, *[u.psi.get(subject) for subject in found.subjects]]
        for u in found.units
    ]
    psi_traces = [
        Trace(name=subject, x=units, y=[u.psi.get(subject) for u in found.units], kind="lines+markers")
        for subject in found.subjects
    ]  # fmt: skip
    charts = [
        Chart(
            "drift-psi",
            f"Population stability index per {unit_name}",
            [unit_name, "transactions", *found.subjects],
            psi_rows,
            psi_traces,
            x_title=unit_name,
            y_title="PSI",
            lines=[{"y": thresholds.psi, "label": f"alert above {thresholds.psi:g}"}],
            note=f"Against {found.reference.since:%Y-%m-%d} to {found.reference.until:%Y-%m-%d} "
            f"({found.reference_transactions} transactions). Below 0.1: stable; above 0.25: shifted.",
        ),  # fmt: skip
        Chart(
            "drift-centroid",
            f"Embedding centroid shift per {unit_name} (cosine distance)",
            [unit_name, "transactions", "with embeddings", "cosine distance"],
            [[u.unit, u.transactions, u.embeddings, u.centroid_shift] for u in found.units],
            [
                Trace(
                    name="centroid shift",
                    x=units,
                    y=[u.centroid_shift for u in found.units],
                    kind="lines+markers",
                )
            ],
            x_title=unit_name,
            y_title="cosine distance",
            lines=[{"y": thresholds.centroid, "label": f"alert above {thresholds.centroid:g}"}],
        ),  # fmt: skip
    ]
    for dimension, rows in found.shares.items():
        table = [[value or "(blank)", ref, now, 100 * (now - ref)] for value, ref, now in rows]
        charts.append(Chart(
            f"drift-share-{dimension.replace('_', '-')}",
            f"{DIMENSION_NAMES[dimension]}: share in the range and in the reference",
            [DIMENSION_NAMES[dimension].lower(), "reference share", "range share", "change (points)"],
            table,
            [Trace(name="reference", x=[r[0] for r in table], y=[r[1] for r in table]),
             Trace(name="range", x=[r[0] for r in table], y=[r[2] for r in table])],
            percent=True, note="The values with the biggest share on either side.",
        ))  # fmt: skip
    return charts
