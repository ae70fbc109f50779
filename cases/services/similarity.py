"""Writes for nearest-neighbour lookups: case centroids, the neighbour verdict, index rebuilds."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Index, Model
from pgvector.django import HnswIndex

from cases.models import FINISHED_CASE_STATUSES, Case, CaseStatus, Transaction
from cases.models.case import CaseCentroid, IndexedEmbedding
from cases.selectors_similarity import neighbour_verdict
from cases.services.ingest_cases import cases_refresh_priority

logger = logging.getLogger(__name__)

# The verdict asks this many labelled neighbours ("9 of 10 nearest labelled ...").
VERDICT_K = 10
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
                WITH claimed AS (
                    DELETE FROM cases_embeddingbacklog WHERE transaction_id IN (
                        SELECT transaction_id FROM cases_embeddingbacklog
                        ORDER BY transaction_id LIMIT %s FOR UPDATE SKIP LOCKED)
                    RETURNING transaction_id
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
        for case_id in batch:
            centroid = centroids.get(case_id)
            verdict = None
            if centroid is not None and np.any(centroid):
                verdict = neighbour_verdict(centroid, k=VERDICT_K, exclude_case_id=case_id)
                if not verdict.labelled:
                    verdict = None
            scores.append(verdict.fraud_score if verdict else None)
            summaries.append(verdict.as_summary() if verdict else None)
        with transaction.atomic(), connection.cursor() as cursor:
            # Only rows whose verdict moved: the hourly sweep should not rewrite every case.
            cursor.execute(
                """
                UPDATE cases_case SET neighbour_fraud_score = fresh.score,
                       neighbour_summary = fresh.summary
                FROM unnest(%s::bigint[], %s::float8[], %s::jsonb[]) AS fresh(id, score, summary)
                WHERE cases_case.id = fresh.id
                  AND (cases_case.neighbour_fraud_score IS DISTINCT FROM fresh.score
                       OR cases_case.neighbour_summary IS DISTINCT FROM fresh.summary)
                RETURNING cases_case.id
                """,
                [batch, scores, [_json(summary) for summary in summaries]],
            )
            moved = [row[0] for row in cursor.fetchall()]
            cases_refresh_priority(case_ids=moved)
        changed += len(moved)
    return changed


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


def _store_centroids(case_ids: list[int]) -> dict[int, np.ndarray]:
    """Write each case's centroid (dropping those of cases left without embeddings); return them."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cases_casecentroid AS stored (case_id, embedding, embedded_transactions,
                                                      updated_at)
            SELECT case_id, avg(embedding), count(*), now() FROM cases_transaction
            WHERE case_id = ANY(%s) AND embedding IS NOT NULL
            GROUP BY case_id
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
            DELETE FROM cases_casecentroid stored WHERE stored.case_id = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM cases_transaction tx
                              WHERE tx.case_id = stored.case_id AND tx.embedding IS NOT NULL)
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
GRAPH_FILL_LOCK = 0x4643_4752_4150


class GraphFillBusy(RuntimeError):
    """Another bulk fill of the graph holds the lock."""


FILL_TABLE = "cases_indexedembedding_fill"
FILL_INDEX = "transaction_embedding_hnsw_fill"


def similarity_graph_bulk_fill(*, progress: Callable[[str], None] | None = None) -> int:
    """Add the whole backlog to the graph with one index build instead of row by row.

    For after a large backfill: a row joins an HNSW graph at a few hundred a second, a build
    takes minutes for a million. The graph and the backlog's embeddings are copied into a new
    table, its index is built there while searches go on against the old graph, then the new
    table takes the old one's place in one short transaction (writers wait; readers do not):
    what the worker changed meanwhile is carried over, and the backlog entries now in the graph
    are removed (an entry whose embedding changed again stays for the worker). Must run
    outside a transaction. Returns how many backlog entries it settled.
    """
    if connection.in_atomic_block:
        raise RuntimeError("the bulk fill runs outside a transaction (it commits as it goes)")
    say = progress or (lambda message: None)
    index = next(index for model, index in similarity_indexes() if model is IndexedEmbedding)
    dim = settings.FRAUDCASE_EMBEDDING_DIM
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [GRAPH_FILL_LOCK])
        if not cursor.fetchone()[0]:
            raise GraphFillBusy("another bulk fill of the graph is running")
        try:
            cursor.execute(f"DROP TABLE IF EXISTS {FILL_TABLE}")  # left by an interrupted run
            cursor.execute(
                f"CREATE TABLE {FILL_TABLE} (transaction_id bigint PRIMARY KEY, "
                f"embedding vector({dim}) NOT NULL)"
            )
            say("copying the graph and the backlog's embeddings ...")
            cursor.execute(
                f"""
                INSERT INTO {FILL_TABLE} SELECT transaction_id, embedding FROM cases_indexedembedding;
                INSERT INTO {FILL_TABLE}
                SELECT tx.id, tx.embedding FROM cases_embeddingbacklog backlog
                JOIN cases_transaction tx ON tx.id = backlog.transaction_id
                WHERE tx.embedding IS NOT NULL
                ON CONFLICT (transaction_id) DO NOTHING;
                """
            )
            cursor.execute(
                "SELECT set_config('maintenance_work_mem', %s, false)",
                [settings.FRAUDCASE_HNSW_BUILD_MEMORY],
            )
            say(f"building the graph of {_count(cursor, FILL_TABLE):,} embeddings ...")
            cursor.execute(
                f"CREATE INDEX {FILL_INDEX} ON {FILL_TABLE} USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {int(index.m)}, ef_construction = {int(index.ef_construction)})"
            )
            say("swapping it in ...")
            with transaction.atomic():
                settled, foreign_keys = _swap_in_filled_graph(cursor, index.name)
            for name in foreign_keys:  # checked after the swap, without blocking anyone
                cursor.execute(f'ALTER TABLE cases_indexedembedding VALIDATE CONSTRAINT "{name}"')
            say(f"done: {settled:,} backlog entries settled")
            return settled
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {FILL_TABLE}")
            cursor.execute("SELECT pg_advisory_unlock(%s)", [GRAPH_FILL_LOCK])


def _swap_in_filled_graph(cursor, index_name: str) -> tuple[int, list[str]]:
    # Writers (the catch-up worker) wait from here; searches read the old graph until commit.
    cursor.execute("LOCK TABLE cases_indexedembedding IN EXCLUSIVE MODE")
    # The transactions table is the truth: rows the worker added while the new graph was
    # building join it, and any embedding that changed or went since the copy is put right.
    cursor.execute(
        f"""
        INSERT INTO {FILL_TABLE} SELECT graph.transaction_id, tx.embedding
        FROM cases_indexedembedding graph JOIN cases_transaction tx ON tx.id = graph.transaction_id
        WHERE tx.embedding IS NOT NULL
        ON CONFLICT (transaction_id) DO NOTHING;
        UPDATE {FILL_TABLE} fill SET embedding = tx.embedding FROM cases_transaction tx
        WHERE tx.id = fill.transaction_id AND tx.embedding IS NOT NULL
          AND fill.embedding IS DISTINCT FROM tx.embedding;
        DELETE FROM {FILL_TABLE} fill WHERE NOT EXISTS (
            SELECT 1 FROM cases_transaction tx
            WHERE tx.id = fill.transaction_id AND tx.embedding IS NOT NULL);
        """
    )
    # Settled: backlog entries whose embedding the new graph holds as it is now (one changed
    # again since stays for the worker).
    cursor.execute(
        f"""
        DELETE FROM cases_embeddingbacklog backlog USING {FILL_TABLE} fill, cases_transaction tx
        WHERE fill.transaction_id = backlog.transaction_id AND tx.id = backlog.transaction_id
          AND tx.embedding = fill.embedding
        """
    )
    settled = cursor.rowcount
    cursor.execute(  # and those of transactions that no longer have one (or are gone)
        """
        DELETE FROM cases_embeddingbacklog backlog WHERE NOT EXISTS (
            SELECT 1 FROM cases_transaction tx
            WHERE tx.id = backlog.transaction_id AND tx.embedding IS NOT NULL)
        """
    )
    settled += cursor.rowcount
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'cases_indexedembedding'::regclass "
        "AND contype = 'f'"
    )
    foreign_keys = [row[0] for row in cursor.fetchall()]
    cursor.execute("DROP TABLE cases_indexedembedding")
    cursor.execute(f"ALTER TABLE {FILL_TABLE} RENAME TO cases_indexedembedding")
    cursor.execute(f"ALTER INDEX {FILL_TABLE}_pkey RENAME TO cases_indexedembedding_pkey")
    cursor.execute(f'ALTER INDEX {FILL_INDEX} RENAME TO "{index_name}"')
    for name in foreign_keys:  # as Django made it; NOT VALID: no scan under the lock
        cursor.execute(
            f'ALTER TABLE cases_indexedembedding ADD CONSTRAINT "{name}" FOREIGN KEY '
            "(transaction_id) REFERENCES cases_transaction (id) DEFERRABLE INITIALLY DEFERRED "
            "NOT VALID"
        )
    return settled, foreign_keys


def _count(cursor, table: str) -> int:
    cursor.execute(f"SELECT count(*) FROM {table}")
    return cursor.fetchone()[0]


# --- index rebuilds ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexRebuild:
    name: str
    action: str  # "reindexed" (same settings), "rebuilt" (new settings or invalid), "created"
    seconds: float


def similarity_indexes() -> list[tuple[type[Model], Index]]:
    """The HNSW indexes the models declare, with their models."""
    return [
        (model, index)
        for model in (IndexedEmbedding, Transaction, CaseCentroid)
        for index in model._meta.indexes
        if isinstance(index, HnswIndex)
    ]


def similarity_index_rebuild(
    *, only: str | None = None, progress: Callable[[str], None] | None = None
) -> list[IndexRebuild]:
    """Rebuild the HNSW indexes without blocking analysts: reads and writes go on throughout.

    An index whose m and ef_construction match the settings is rebuilt in place with
    REINDEX INDEX CONCURRENTLY. One built with other settings, left invalid by a failed
    build, or missing is built anew under a temporary name with CREATE INDEX CONCURRENTLY,
    then swapped in by renaming (the old one serves queries until then) and dropped
    concurrently. Leftovers of an interrupted earlier rebuild are dropped first. Must run
    outside a transaction (CONCURRENTLY refuses one). Not audited: no case data changes.
    """
    if connection.in_atomic_block:
        raise RuntimeError("index rebuilds run outside a transaction (CONCURRENTLY needs that)")
    say = progress or (lambda message: None)
    wanted = [(model, index) for model, index in similarity_indexes() if only in (None, index.name)]
    if not wanted:
        raise ValueError(f"no similarity index named {only!r}")
    results = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('maintenance_work_mem', %s, false)",
            [settings.FRAUDCASE_HNSW_BUILD_MEMORY],
        )
        for model, index in wanted:
            started = time.monotonic()
            action = _rebuild_one(cursor, model, index, say)
            results.append(IndexRebuild(index.name, action, time.monotonic() - started))
    return results


def _rebuild_one(cursor, model: type[Model], index: HnswIndex, say: Callable[[str], None]) -> str:
    name, temporary, retired = index.name, f"{index.name}_rebuild", f"{index.name}_retired"
    for leftover in _leftover_indexes(cursor, name, (temporary, retired)):
        say(f"dropping {leftover}, left by an interrupted rebuild")
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{leftover}"')
    current = _index_state(cursor, name)
    wanted_options = {f"m={index.m}", f"ef_construction={index.ef_construction}"}
    if current is not None and current[0] and set(current[1] or ()) == wanted_options:
        say(f"{name}: REINDEX CONCURRENTLY ...")
        cursor.execute(f'REINDEX INDEX CONCURRENTLY "{name}"')
        return "reindexed"
    say(f"{name}: building a new index concurrently ...")
    fresh = index.clone()
    fresh.name = temporary
    with connection.schema_editor(atomic=False) as editor:
        cursor.execute(str(fresh.create_sql(model, editor, concurrently=True)))
    with transaction.atomic():
        if current is not None:
            cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{retired}"')
        cursor.execute(f'ALTER INDEX "{temporary}" RENAME TO "{name}"')
    if current is None:
        return "created"
    cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{retired}"')
    return "rebuilt"


def _index_state(cursor, name: str) -> tuple[bool, list[str] | None] | None:
    """(valid, reloptions) of the named index, None when it does not exist."""
    cursor.execute(
        """
        SELECT i.indisvalid, c.reloptions FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE c.relname = %s AND c.relkind = 'i' AND pg_table_is_visible(c.oid)
        """,
        [name],
    )
    row = cursor.fetchone()
    return None if row is None else (row[0], row[1])


def _leftover_indexes(cursor, name: str, exact_names: tuple[str, ...]) -> list[str]:
    """Our temporary indexes, and invalid ones REINDEX CONCURRENTLY leaves when interrupted."""
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE pg_table_is_visible(c.oid) AND c.relkind = 'i'
          AND (c.relname = ANY(%s) OR (c.relname LIKE %s AND NOT i.indisvalid))
        """,
        [list(exact_names), f"{name}_ccnew%"],
    )
    return [row[0] for row in cursor.fetchall()]
