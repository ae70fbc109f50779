"""The shadow comparison: the champion (the transactions' own model version) and a shadow
model's scores of the same labelled transactions, side by side against analyst labels.

Only labels of the champion's transactions that the shadow model also scored count, so both
models are measured on exactly the same transactions. One statement reads those pairs once
and groups them four ways (GROUPING SETS): cells per side (score on the 0.01 grid, outcome,
label) -> count, as for one model (analytics.quality.selectors), where scikit-learn's metrics
run on the cells with the counts as weights; and the joint counts (champion's grid, shadow's
grid, label) and (champion's outcome, shadow's outcome, label), from which the disagreement
table at any threshold is summed in numpy (another "Compare at score" needs no new SQL).
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
# read once and grouped four ways; GROUPING(...) tells the sets apart (a bit per column left
# out, the champion's grid the highest): 3 champion cells, 12 shadow cells, 5 joint grids,
# 10 joint outcomes.
_PAIRS_SQL = """
SELECT GROUPING(champion_grid, champion_outcome, shadow_grid, shadow_outcome),
       champion_grid, champion_outcome, shadow_grid, shadow_outcome, fraud, count(*)
FROM (
    SELECT least({grid}, floor(f.score * {grid} + 1e-9)::int) AS champion_grid,
           f.outcome AS champion_outcome,
           least({grid}, floor(s.similarity_score * {grid} + 1e-9)::int) AS shadow_grid,
           s.outcome AS shadow_outcome, f.label = 'fraud' AS fraud
    FROM analytics_labelfact f
    JOIN {shadow} s ON s.transaction_pk = f.transaction_id
    WHERE f.day BETWEEN %(since)s AND %(until)s AND f.model_version = %(champion)s {analyst}
) pairs
GROUP BY GROUPING SETS (
    (champion_grid, champion_outcome, fraud), (shadow_grid, shadow_outcome, fraud),
    (champion_grid, shadow_grid, fraud), (champion_outcome, shadow_outcome, fraud)
)
"""
_CHAMPION_CELLS, _SHADOW_CELLS, _JOINT_GRIDS, _JOINT_OUTCOMES = 3, 12, 5, 10

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


@dataclass
class JointCounts:
    """How many compared labels per pair of the two models' values and label: the grids
    (champion_grid, shadow_grid) or the outcomes, one entry per distinct combination."""

    champion: np.ndarray
    shadow: np.ndarray
    fraud: np.ndarray  # bool
    count: np.ndarray  # int64

    @classmethod
    def of(cls, rows: list[tuple], dtype) -> JointCounts:
        return cls(
            champion=np.array([r[0] for r in rows], dtype=dtype),
            shadow=np.array([r[1] for r in rows], dtype=dtype),
            fraud=np.array([r[2] for r in rows], dtype=bool),
            count=np.array([r[3] for r in rows], dtype=np.int64),
        )


def shadow_pick(champion: str, shadow: str, shadow_versions: list[str]) -> str:
    """The shadow model to compare with the champion: the one asked for, else the newest-named
    shadow version that is not the champion's ("" when there is none)."""
    return shadow or next((v for v in reversed(shadow_versions) if v != champion), "")


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
    best-F1 threshold (its operating point as the labels see it), else 0.5. Neither it nor
    detector_call changes the statement: one cached result serves every threshold.
    """
    if champion == shadow:
        return None  # a model's own version is never its shadow (the scores are left out)
    params = {
        "since": day_range.since, "until": day_range.until, "champion": champion,
        "shadow_model": shadow, "analyst": analyst_id, "stamp": shadow_scores_stamp(),
    }  # fmt: skip
    sql = _PAIRS_SQL.format(
        grid=GRID, shadow=shadow_scores_sql(), analyst=_analyst_clause(analyst_id)
    )
    found = label_fact_rows("quality-shadow-pairs", sql, params, day_range)
    parts: dict[int, list[tuple]] = {
        _CHAMPION_CELLS: [], _SHADOW_CELLS: [], _JOINT_GRIDS: [], _JOINT_OUTCOMES: [],
    }  # fmt: skip
    for grouping, c_grid, c_outcome, s_grid, s_outcome, fraud, count in found:
        parts[grouping].append(
            {
                _CHAMPION_CELLS: (c_grid, c_outcome, fraud, count),
                _SHADOW_CELLS: (s_grid, s_outcome, fraud, count),
                _JOINT_GRIDS: (c_grid, s_grid, fraud, count),
                _JOINT_OUTCOMES: (c_outcome, s_outcome, fraud, count),
            }[grouping]
        )
    if not parts[_CHAMPION_CELLS]:
        return None
    cells = {"champion": _cells(parts[_CHAMPION_CELLS]), "shadow": _cells(parts[_SHADOW_CELLS])}
    quality = {
        side: model_quality(
            cells[side], model_version=champion if side == "champion" else shadow,
            target_precision=target_precision, detector_call=detector_call,
        )
        for side in cells
    }  # fmt: skip
    if threshold is None:
        point = quality["champion"].best_f1
        threshold = point.threshold if point is not None else 0.5
    grid = round(threshold * GRID)
    at_threshold = {
        side: scores(cells[side].fraud, cells[side].grid >= grid, cells[side].count)
        for side in cells
    }
    shadow_cells = cells["shadow"]
    return ShadowComparison(
        champion=quality["champion"], shadow=quality["shadow"], threshold=grid / GRID,
        champion_at_threshold=at_threshold["champion"],
        shadow_at_threshold=at_threshold["shadow"],
        disagreement=disagreement(
            JointCounts.of(parts[_JOINT_OUTCOMES], object),
            JointCounts.of(parts[_JOINT_GRIDS], np.int64),
            detector_call=detector_call, grid=grid,
        ),
        shadow_without_outcome=int(shadow_cells.count[shadow_cells.outcome == ""].sum()),
    )  # fmt: skip


def disagreement(
    outcomes: JointCounts, grids: JointCounts, *, detector_call: str, grid: int
) -> list[Disagreement]:
    """Per basis (the outcome as detector_call reads it, score >= grid / GRID): how many
    compared labels both models, only one or neither call fraud, and how many are fraud."""
    calls = list(DETECTOR_CALLS[detector_call])
    bases = (
        ("outcome", np.isin(outcomes.champion, calls), np.isin(outcomes.shadow, calls), outcomes),
        (f"score >= {grid / GRID:.2f}", grids.champion >= grid, grids.shadow >= grid, grids),
    )
    table = []
    for basis, champion_calls, shadow_calls, joint in bases:
        for (by_champion, by_shadow), name in AGREEMENT:
            chosen = (champion_calls == by_champion) & (shadow_calls == by_shadow)
            table.append(
                Disagreement(
                    basis, name, int(joint.count[chosen].sum()),
                    int(joint.count[chosen & joint.fraud].sum()),
                )
            )  # fmt: skip
    return table
