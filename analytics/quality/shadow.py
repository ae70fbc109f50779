"""The shadow comparison: the champion (the transactions' own model version) and a shadow
model's scores of the same labelled transactions, side by side against analyst labels.

Only labels of the champion's transactions that the shadow model also scored count, so both
models are measured on exactly the same transactions. As for one model
(analytics.quality.selectors), one GROUP BY turns them into cells per side (score on the 0.01
grid, outcome, label) -> count, and scikit-learn's metrics run on the cells with the counts as
weights; the disagreement table is a second GROUP BY over the same join (a handful of rows).
No label is loaded into Python. Cached like the other quality figures, under the label facts'
changes and the shadow scores' stamp (a new shadow file changes it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from analytics.common.facts_cache import label_fact_rows
from analytics.common.ranges import DayRange
from analytics.quality.selectors import (
    DETECTOR_CALLS,
    GRID,
    Cells,
    ModelQuality,
    Scores,
    model_quality,
    scores,
)
from cases.shadow.selectors import shadow_scores_sql, shadow_scores_stamp

# Label facts of the champion joined to the shadow model's scores of the same transactions,
# read once per statement (materialised: both sides' cells group the same rows).
_PAIRS = """
WITH pairs AS MATERIALIZED (
    SELECT least({grid}, floor(f.score * {grid} + 1e-9)::int) AS champion_grid,
           f.outcome AS champion_outcome,
           least({grid}, floor(s.similarity_score * {grid} + 1e-9)::int) AS shadow_grid,
           s.outcome AS shadow_outcome, f.label = 'fraud' AS fraud
    FROM analytics_labelfact f
    JOIN {shadow} s ON s.transaction_pk = f.transaction_id
    WHERE f.day BETWEEN %(since)s AND %(until)s AND f.model_version = %(champion)s {analyst}
)"""

_CELLS_SQL = """{pairs}
SELECT 'champion', champion_grid, champion_outcome, fraud, count(*) FROM pairs GROUP BY 2, 3, 4
UNION ALL
SELECT 'shadow', shadow_grid, shadow_outcome, fraud, count(*) FROM pairs GROUP BY 2, 3, 4
"""

# Who calls fraud, by outcome and by score >= threshold (on the grid), and the label.
_DISAGREEMENT_SQL = """{pairs}
SELECT champion_outcome = ANY(%(calls)s), shadow_outcome = ANY(%(calls)s),
       champion_grid >= %(grid)s, shadow_grid >= %(grid)s, fraud, count(*)
FROM pairs
GROUP BY 1, 2, 3, 4, 5
"""

AGREEMENT = (
    ((True, True), "both call fraud"),
    ((True, False), "only the champion"),
    ((False, True), "only the shadow"),
    ((False, False), "neither"),
)


@dataclass
class Disagreement:
    basis: str  # "outcome" or "score >= t"
    agreement: str  # one of AGREEMENT's names
    transactions: int
    fraud: int

    @property
    def legitimate(self) -> int:
        return self.transactions - self.fraud


@dataclass
class ShadowComparison:
    champion: ModelQuality  # figures over the compared transactions only
    shadow: ModelQuality
    threshold: float  # the score threshold both are measured at
    champion_at_threshold: Scores
    shadow_at_threshold: Scores
    disagreement: list[Disagreement]
    shadow_without_outcome: int  # compared labels whose shadow score came without an outcome

    @property
    def labels(self) -> int:
        return self.champion.labels

    @property
    def fraud_labels(self) -> int:
        return self.champion.fraud_labels

    @property
    def few_labels(self) -> bool:
        return self.labels < settings.FRAUDCASE_ANALYTICS_MIN_LABELS


def _analyst_clause(analyst_id: int | None) -> str:
    return "" if analyst_id is None else "AND f.labelled_by_id = %(analyst)s"


def _cells(rows: list[tuple]) -> Cells:
    return Cells(
        grid=np.array([r[0] for r in rows], dtype=np.int64),
        outcome=np.array([r[1] for r in rows], dtype=object),
        neighbour=np.full(len(rows), -1, dtype=np.int64),  # not a shadow figure
        fraud=np.array([r[2] for r in rows], dtype=bool),
        count=np.array([r[3] for r in rows], dtype=np.int64),
    )


def shadow_comparison(
    day_range: DayRange,
    *,
    champion: str,
    shadow: str,
    target_precision: float,
    threshold: float | None = None,
    detector_call: str = "block",
    analyst_id: int | None = None,
) -> ShadowComparison | None:
    """The champion's and the shadow model's figures over the labelled transactions of the
    range (by the transaction's day) that the champion scored in production and the shadow
    model scored too; None when there are none.

    threshold: the score both are measured at (on the 0.01 grid); default the champion's
    best-F1 threshold (its operating point as the labels see it), else 0.5.
    """
    params = {
        "since": day_range.since, "until": day_range.until, "champion": champion,
        "shadow_model": shadow, "analyst": analyst_id, "stamp": shadow_scores_stamp(),
    }  # fmt: skip
    pairs = _PAIRS.format(
        grid=GRID, shadow=shadow_scores_sql(), analyst=_analyst_clause(analyst_id)
    )
    found = label_fact_rows(
        "quality-shadow-cells", _CELLS_SQL.format(pairs=pairs), params, day_range
    )
    sides: dict[str, list[tuple]] = {"champion": [], "shadow": []}
    for side, grid, outcome, fraud, count in found:
        sides[side].append((grid, outcome, fraud, count))
    if not sides["champion"]:
        return None
    cells = {side: _cells(rows) for side, rows in sides.items()}
    quality = {
        side: model_quality(
            cells[side], model_version=champion if side == "champion" else shadow,
            target_precision=target_precision, detector_call=detector_call,
        )
        for side in sides
    }  # fmt: skip
    if threshold is None:
        point = quality["champion"].best_f1
        threshold = point.threshold if point is not None else 0.5
    grid = round(threshold * GRID)
    at_threshold = {
        side: scores(cells[side].fraud, cells[side].grid >= grid, cells[side].count)
        for side in sides
    }
    shadow_cells = cells["shadow"]
    return ShadowComparison(
        champion=quality["champion"], shadow=quality["shadow"], threshold=grid / GRID,
        champion_at_threshold=at_threshold["champion"],
        shadow_at_threshold=at_threshold["shadow"],
        disagreement=_disagreement(day_range, params, pairs, detector_call, grid),
        shadow_without_outcome=int(shadow_cells.count[shadow_cells.outcome == ""].sum()),
    )  # fmt: skip


def _disagreement(
    day_range: DayRange, params: dict, pairs: str, detector_call: str, grid: int
) -> list[Disagreement]:
    """Per basis (the outcome, score >= threshold): both / only one / neither call fraud."""
    found = label_fact_rows(
        "quality-shadow-disagreement",
        _DISAGREEMENT_SQL.format(pairs=pairs),
        {**params, "calls": list(DETECTOR_CALLS[detector_call]), "grid": grid},
        day_range,
    )
    totals: dict[tuple, list[int]] = {}
    for by_outcome_c, by_outcome_s, by_score_c, by_score_s, fraud, count in found:
        for basis, calls in (("outcome", (by_outcome_c, by_outcome_s)),
                             ("score", (by_score_c, by_score_s))):  # fmt: skip
            tally = totals.setdefault((basis, calls), [0, 0])
            tally[0] += count
            tally[1] += count if fraud else 0
    threshold = f"score >= {grid / GRID:.2f}"
    return [
        Disagreement(
            "outcome" if basis == "outcome" else threshold, name,
            *totals.get((basis, calls), [0, 0]),
        )
        for basis in ("outcome", "score")
        for calls, name in AGREEMENT
    ]  # fmt: skip
