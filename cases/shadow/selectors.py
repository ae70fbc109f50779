"""Reads of shadow scores (cases.shadow.models.ShadowScore) for the pages that compare models.

Shadow scores are keyed by the transaction's id as text (they may arrive first): every read
joins them to cases_transaction here, and leaves out a score whose model version is the
transaction's own (the champion's), which ingest could not refuse when the score came first.
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
    version are left out. Each row is an index lookup on (transaction_id, model_version)
    when joined from transactions."""
    return f"""(
    SELECT t.id AS transaction_pk, s.similarity_score, s.outcome
    FROM cases_shadowscore s
    JOIN cases_transaction t ON t.transaction_id = s.transaction_id
    WHERE s.model_version = %({model_param})s AND t.model_version <> s.model_version
)"""
