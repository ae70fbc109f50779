"""Shadow scores for the demo: a candidate model that scored the same traffic as the detector
in production, silently, for the quality page's shadow comparison (docs/contract.md, shadow/).

The candidate sees the planted truth a little better than the champion (fraud nudged up,
everyday spending down) with its own noise, so the comparison shows gains and losses both.
It scores only the transactions of the current model version (the shadow ran beside it), and
writes no embeddings: the file stays small and quick to take in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import numpy as np

SHADOW_MODEL_VERSION = "detector-2026.12.0-rc1"
BLOCK_AT, INVESTIGATE_AT = 0.85, 0.60
FRAUD_NUDGE, NORMAL_NUDGE, NOISE = 0.06, -0.04, 0.05


def generate_shadow_scores(rows: Iterable[dict], *, seed: int, champion: str) -> list[dict]:
    """One shadow row per flagged row of the champion model version; deterministic for seed."""
    rng = np.random.default_rng([seed, 16])
    shadow = []
    for row in rows:
        if row.get("model_version") != champion:
            continue
        nudge = NORMAL_NUDGE if row.get("_pattern", "normal") == "normal" else FRAUD_NUDGE
        score = float(np.clip(row["similarity_score"] + nudge + rng.normal(0.0, NOISE), 0, 1))
        outcome = (
            "block" if score >= BLOCK_AT else "investigate" if score >= INVESTIGATE_AT
            else "approve"
        )  # fmt: skip
        shadow.append(
            {
                "transaction_id": row["transaction_id"],
                "model_version": SHADOW_MODEL_VERSION,
                "similarity_score": round(score, 4),
                "outcome": outcome,
                "scored_at": (row["occurred_at"] + timedelta(seconds=2)).isoformat(),
            }
        )
    return shadow
