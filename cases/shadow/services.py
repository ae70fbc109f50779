"""Upkeep of shadow scores: linking the scores that arrived before their transaction."""

from __future__ import annotations

from django.db import connection, transaction

# One batch of unlinked scores whose transaction is in now (and is not of the score's own
# model version: such a score is never a comparison and stays unlinked). The partial index
# shadow_score_unlinked_idx holds the unlinked rows only, so a run reads few rows; each is one
# probe of cases_transaction's unique text index. SKIP LOCKED: runs side by side share them.
_LINK_SQL = """
WITH found AS (
    SELECT s.id, t.id AS transaction_pk
    FROM cases_shadowscore s
    JOIN cases_transaction t ON t.transaction_id = s.transaction_id
    WHERE s.transaction_pk IS NULL AND t.model_version <> s.model_version
    LIMIT %(batch)s
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE cases_shadowscore s SET transaction_pk = found.transaction_pk
FROM found
WHERE s.id = found.id AND s.transaction_pk IS NULL
"""


def shadow_scores_link(*, batch_size: int = 10_000) -> int:
    """Link every shadow score whose transaction has arrived since to cases_transaction.id
    (transaction_pk), batch by batch, each batch committed: idempotent (only unlinked rows are
    touched) and safe to retry or interrupt (what is linked stays linked, the rest waits for
    the next run). Returns how many were linked. Reads give the same figures before and after
    (cases.shadow.selectors joins unlinked scores on the text): this only makes them cheaper.
    """
    linked = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_LINK_SQL, {"batch": batch_size})
            done = cursor.rowcount
        linked += done
        if done < batch_size:
            return linked
