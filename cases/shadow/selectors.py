"""Reads of shadow scores (cases.shadow.models.ShadowScore) for the pages that compare models.

Shadow scores are keyed by the transaction's id as text (they may arrive first) and linked to
cases_transaction.id (transaction_pk) once it is in. Every read goes through
shadow_scores_sql here: linked scores by their key, the few unlinked ones joined on the text,
so a figure is the same before and after the link task ran. A score whose model version is
the transaction's own (the champion's), which ingest could not refuse when the score came
first, is left out (such a score is never linked).
"""

from __future__ import annotations

from django.db import connection

# Distinct model versions by a loose index scan of shadow_score_model_idx: one index probe
# per version instead of reading every score.
_VERSIONS_SQL = """
WITH RECURSIVE versions(model_version) AS (
    (SELECT model_version FROM cases_shadowscore ORDER BY model_version LIMIT 1)
    UNION ALL
    SELECT (SELECT s.model_version FROM cases_shadowscore s
            WHERE s.model_version > v.model_version ORDER BY s.model_version LIMIT 1)
    FROM versions v WHERE v.model_version IS NOT NULL
)
SELECT model_version FROM versions WHERE model_version IS NOT NULL
"""


def shadow_model_versions() -> list[str]:
    """Every model version with at least one shadow score, in name order."""
    with connection.cursor() as cursor:
        cursor.execute(_VERSIONS_SQL)
        return [row[0] for row in cursor.fetchall()]


def shadow_scores_stamp() -> int:
    """Grows with every shadow score stored (scores are only ever added): a cache key part for
    figures over shadow scores."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cases_shadowscore")
        return int(cursor.fetchone()[0])


def shadow_scores_sql(*, model_param: str = "shadow_model") -> str:
    """SQL relation of one shadow model's scores of the transactions that arrived: columns
    transaction_pk (cases_transaction.id), similarity_score, outcome ('' when none). The model
    version is the query parameter %(model_param)s. Scores of a transaction's own model
    version are left out.

    Linked scores come from cases_shadowscore alone (no read of cases_transaction: writers
    link a score only when its model version is not the transaction's); scores not linked
    yet (waiting for the beat task, few) are joined to cases_transaction on its unique text
    index."""
    return f"""(
    SELECT s.transaction_pk, s.similarity_score, s.outcome
    FROM cases_shadowscore s
    WHERE s.model_version = %({model_param})s AND s.transaction_pk IS NOT NULL
    UNION ALL
    SELECT t.id, s.similarity_score, s.outcome
    FROM cases_shadowscore s
    JOIN cases_transaction t ON t.transaction_id = s.transaction_id
    WHERE s.model_version = %({model_param})s AND s.transaction_pk IS NULL
      AND t.model_version <> s.model_version
)"""
