"""Writes for nearest-neighbour lookups: the graph kept up with new embeddings, case centroids,
the neighbour verdict (building indexes at once: cases/similarity/index_builds.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from cases.ingest.case_opening import cases_refresh_priority
from cases.models import FINISHED_CASE_STATUSES, Case, CaseStatus
from cases.similarity.index_builds import GraphFillBusy, similarity_graph_bulk_fill
from cases.similarity.models import CaseCentroid, NeighbourRefreshRequest
from cases.similarity.selectors import VERDICT_K, neighbour_verdict_behind, open_cases_labels_move

logger = logging.getLogger(__name__)

REFRESH_BATCH = 500
# Embeddings added to the HNSW graph per transaction: each batch commits on its own, so a
# worker stopped midway loses at most one batch of work, never an embedding.
INDEX_BATCH = 500


def similarity_index_catch_up(
    *, max_rows: int | None = None, progress: Callable[[int], None] | None = None
) -> int:
    """Move embeddings waiting in the backlog into the nearest-neighbour graph.

    Batches are claimed with SKIP LOCKED, so several workers share a large backlog and none
    waits on another; a batch's claim, its graph inserts and the backlog rows' removal commit
    together, so a crash puts the batch back. A transaction whose embedding was removed
    leaves the graph. Idempotent. Returns how many backlog entries were handled.
    """
    handled = 0
    while max_rows is None or handled < max_rows:
        size = INDEX_BATCH if max_rows is None else min(INDEX_BATCH, max_rows - handled)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                WITH picked AS MATERIALIZED (
                    -- Once: a rescanned pick (a nested loop's inner side) skips the rows this
                    -- statement already deleted and takes the next ones, past the batch size.
                    SELECT transaction_id FROM cases_embeddingbacklog
                    ORDER BY transaction_id LIMIT %s FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    DELETE FROM cases_embeddingbacklog backlog USING picked
                    WHERE backlog.transaction_id = picked.transaction_id
                    RETURNING backlog.transaction_id
                ), added AS (
                    INSERT INTO cases_indexedembedding AS indexed (transaction_id, embedding)
                    SELECT tx.id, tx.embedding FROM cases_transaction tx
                    JOIN claimed ON claimed.transaction_id = tx.id
                    WHERE tx.embedding IS NOT NULL
                    ON CONFLICT (transaction_id) DO UPDATE SET embedding = EXCLUDED.embedding
                    WHERE indexed.embedding IS DISTINCT FROM EXCLUDED.embedding
                ), removed AS (
                    DELETE FROM cases_indexedembedding indexed USING claimed
                    WHERE indexed.transaction_id = claimed.transaction_id
                      AND NOT EXISTS (SELECT 1 FROM cases_transaction tx
                                      WHERE tx.id = claimed.transaction_id
                                        AND tx.embedding IS NOT NULL)
                )
                SELECT count(*) FROM claimed
                """,
                [size],
            )
            claimed = cursor.fetchone()[0]
        if not claimed:
            break
        handled += claimed
        if progress is not None:
            progress(handled)
    return handled


def similarity_graph_refresh() -> int:
    """The worker's way to the graph: one index build when the backlog is large against the
    graph (a bulk load after a backfill), else row by row. Returns the entries handled.

    A build adds embeddings about three times as fast as row by row (1.3M in about 17 minutes
    on 2 CPUs, against some 370 a second) but covers the whole graph, so it pays when the
    backlog is at least FRAUDCASE_GRAPH_BULK_FILL_SHARE of the graph and
    FRAUDCASE_GRAPH_BULK_FILL_MIN_ROWS long (smaller backlogs are gone in a minute or two row by
    row). While one worker builds, the others carry on row by row.
    """
    if connection.in_atomic_block or not _backlog_calls_for_bulk_fill():
        return similarity_index_catch_up()
    try:
        return similarity_graph_bulk_fill(progress=logger.info)
    except GraphFillBusy:
        return similarity_index_catch_up()


def _backlog_calls_for_bulk_fill() -> bool:
    minimum = settings.FRAUDCASE_GRAPH_BULK_FILL_MIN_ROWS
    with connection.cursor() as cursor:
        # Counted up to the minimum only: a long backlog is not scanned whole to learn it is long.
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM cases_embeddingbacklog LIMIT %s) waiting",
            [minimum],
        )
        if cursor.fetchone()[0] < minimum:
            return False
        cursor.execute("SELECT count(*) FROM cases_embeddingbacklog")
        waiting = cursor.fetchone()[0]
        # The planner's estimate of the graph's size is enough to weigh one against the other.
        cursor.execute(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class "
            "WHERE oid = 'cases_indexedembedding'::regclass"
        )
        in_graph = cursor.fetchone()[0]
    return waiting >= settings.FRAUDCASE_GRAPH_BULK_FILL_SHARE * in_graph


def cases_refresh_neighbour_verdict(*, case_ids: Iterable[int]) -> int:
    """Recompute these cases' centroids and neighbour verdicts, then fold them into priority.

    For each case: its centroid (mean of its transactions' embeddings) is stored for "similar
    cases"; the VERDICT_K labelled transactions of other cases nearest to it give
    Case.neighbour_fraud_score and Case.neighbour_summary (None when the case has no
    embedding or nothing labelled exists). Idempotent: the result depends only on the
    transactions and their labels. Derived data like priority, so no audit event. The k-NN
    lookups only read and run outside any transaction; each batch's writes commit together.
    Returns how many cases' verdicts changed.
    """
    changed = 0
    for batch in _batches(sorted(set(case_ids)), REFRESH_BATCH):
        centroids = _store_centroids(batch)
        scores, summaries = [], []
        behind_case_ids, behind_ids, behind_kth = [], [], []
        for case_id in batch:
            centroid = centroids.get(case_id)
            verdict = None
            if centroid is not None:
                behind_case_ids.append(case_id)
                behind = None
                if np.any(centroid):
                    behind = neighbour_verdict_behind(
                        centroid, k=VERDICT_K, exclude_case_id=case_id
                    )
                    verdict = behind.verdict if behind.verdict.labelled else None
                # Transaction ids as text: one bigint[][] would need rows of equal length.
                behind_ids.append(",".join(map(str, behind.transaction_ids)) if behind else "")
                behind_kth.append(behind.kth_similarity if behind else None)
            scores.append(verdict.fraud_score if verdict else None)
            summaries.append(verdict.as_summary() if verdict else None)
        with transaction.atomic(), connection.cursor() as cursor:
            # Only rows whose verdict moved: the hourly sweep should not rewrite every case.
            # Locked first in id order (the house order, cases.locking): an UPDATE takes its
            # rows in whatever order its plan meets them, and so met an ingest or a merge
            # locking the same cases the other way round.
            cursor.execute(
                """
                WITH fresh AS (
                    SELECT * FROM unnest(%s::bigint[], %s::float8[], %s::jsonb[])
                                  AS fresh(id, score, summary)
                ), moving AS MATERIALIZED (
                    SELECT cases_case.id FROM cases_case JOIN fresh ON fresh.id = cases_case.id
                    WHERE cases_case.neighbour_fraud_score IS DISTINCT FROM fresh.score
                       OR cases_case.neighbour_summary IS DISTINCT FROM fresh.summary
                    ORDER BY cases_case.id FOR NO KEY UPDATE OF cases_case
                )
                UPDATE cases_case SET neighbour_fraud_score = fresh.score,
                       neighbour_summary = fresh.summary
                FROM fresh, moving
                WHERE cases_case.id = moving.id AND fresh.id = moving.id
                  AND (cases_case.neighbour_fraud_score IS DISTINCT FROM fresh.score
                       OR cases_case.neighbour_summary IS DISTINCT FROM fresh.summary)
                RETURNING cases_case.id
                """,
                [batch, scores, [_json(summary) for summary in summaries]],
            )
            moved = [row[0] for row in cursor.fetchall()]
            cases_refresh_priority(case_ids=moved)
            _store_verdict_neighbours(batch, behind_case_ids, behind_ids, behind_kth, cursor)
        changed += len(moved)
    return changed


def _store_verdict_neighbours(
    batch: list[int],
    case_ids: list[int],
    transaction_ids: list[str],
    kth_similarities: list[float | None],
    cursor,
) -> None:
    """Keep VerdictNeighbours beside the verdicts: a row per case of the batch with a centroid
    (rewritten only when it moved: each write adds GIN entries), none for the others. Rows
    are written in case id order, as the centroids are (_store_centroids)."""
    cursor.execute(
        """
        INSERT INTO cases_verdictneighbours AS stored (case_id, transaction_ids, kth_similarity)
        SELECT fresh.case_id,
               coalesce(string_to_array(nullif(fresh.ids, ''), ',')::bigint[], '{}'),
               fresh.kth
        FROM unnest(%s::bigint[], %s::text[], %s::float8[]) AS fresh(case_id, ids, kth)
        ORDER BY fresh.case_id
        ON CONFLICT (case_id) DO UPDATE
           SET transaction_ids = EXCLUDED.transaction_ids,
               kth_similarity = EXCLUDED.kth_similarity
        WHERE stored.transaction_ids IS DISTINCT FROM EXCLUDED.transaction_ids
           OR stored.kth_similarity IS DISTINCT FROM EXCLUDED.kth_similarity
        """,
        [case_ids, transaction_ids, kth_similarities],
    )
    cursor.execute(
        """
        DELETE FROM cases_verdictneighbours WHERE case_id IN (
            SELECT case_id FROM cases_verdictneighbours
            WHERE case_id = ANY(%s) AND NOT (case_id = ANY(%s))
            ORDER BY case_id FOR UPDATE)
        """,
        [batch, case_ids],
    )


def cases_refresh_all_neighbour_verdicts() -> int:
    """Refresh every unfinished case, and merged cases that still hold a centroid (theirs goes).

    New labels anywhere can change any open case's verdict; beat runs this now and then.
    """
    case_ids = set(
        Case.objects.exclude(status__in=FINISHED_CASE_STATUSES).values_list("id", flat=True)
    )
    case_ids |= set(
        CaseCentroid.objects.filter(case__status=CaseStatus.MERGED).values_list(
            "case_id", flat=True
        )
    )
    return cases_refresh_neighbour_verdict(case_ids=case_ids)


def cases_refresh_neighbours_of_labels(*, batch: int = REFRESH_BATCH) -> int:
    """Drain the waiting NeighbourRefreshRequest rows and refresh the verdicts of the open
    cases each label may move, each case once however many of the labels touch it (coalesced):
    exactly those whose stored verdict rests on one of the transactions (a changed or
    withdrawn label), or that one of them now enters (open_cases_labels_move). Returns how many
    verdicts changed.

    Requests are claimed with SKIP LOCKED and removed in the claim's transaction: two workers
    share the work; a worker lost after the claim leaves those cases to the hourly sweep.
    Derived data (no one's decision): no audit event.
    """
    changed = 0
    while True:
        with transaction.atomic():
            claimed = list(
                NeighbourRefreshRequest.objects.select_for_update(skip_locked=True)
                .order_by("transaction_id")
                .values_list("transaction_id", flat=True)[:batch]
            )
            NeighbourRefreshRequest.objects.filter(transaction_id__in=claimed).delete()
        if not claimed:
            return changed
        changed += cases_refresh_neighbour_verdict(case_ids=open_cases_labels_move(claimed))


def _store_centroids(case_ids: list[int]) -> dict[int, np.ndarray]:
    """Write each case's centroid (dropping those of cases left without embeddings); return them.

    Rows are written and deleted in case id order, whatever plan the database picks: two
    workers refreshing overlapping cases (one queued per ingest chunk, and beat's sweep) then
    wait for each other instead of deadlocking. (With a hash aggregate the groups came out in
    hash order, which differs between two sets of cases: each worker held a centroid the
    other was about to upsert.)
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cases_casecentroid AS stored (case_id, embedding, embedded_transactions,
                                                      updated_at)
            SELECT case_id, avg(embedding), count(*), now() FROM cases_transaction
            WHERE case_id = ANY(%s) AND embedding IS NOT NULL
            GROUP BY case_id
            ORDER BY case_id
            ON CONFLICT (case_id) DO UPDATE
               SET embedding = EXCLUDED.embedding,
                   embedded_transactions = EXCLUDED.embedded_transactions,
                   updated_at = EXCLUDED.updated_at
            -- An unchanged centroid is left alone: each rewrite adds an HNSW index entry.
            WHERE stored.embedding IS DISTINCT FROM EXCLUDED.embedding
            """,
            [case_ids],
        )
        cursor.execute(
            """
            DELETE FROM cases_casecentroid WHERE case_id IN (
                SELECT stored.case_id FROM cases_casecentroid stored
                WHERE stored.case_id = ANY(%s)
                  AND NOT EXISTS (SELECT 1 FROM cases_transaction tx
                                  WHERE tx.case_id = stored.case_id AND tx.embedding IS NOT NULL)
                ORDER BY stored.case_id FOR UPDATE OF stored)
            """,
            [case_ids],
        )
    return dict(
        CaseCentroid.objects.filter(case_id__in=case_ids).values_list("case_id", "embedding")
    )


def _json(summary: dict | None) -> str | None:
    return None if summary is None else json.dumps(summary)


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# One bulk fill at a time (advisory-lock key).
