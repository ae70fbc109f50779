"""Building the nearest-neighbour indexes at once: the graph filled in one index build after a
backfill, and concurrent rebuilds of every similarity index (rebuild_similarity_index)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Index, Model
from pgvector.django import HnswIndex

from cases.models import Transaction
from cases.similarity.models import CaseCentroid, IndexedEmbedding

logger = logging.getLogger(__name__)

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
