"""The nearest-neighbour search itself: how a lookup always finds k rows when k match.

Similarity is cosine similarity (1 = same direction, 0 = unrelated), served by HNSW indexes:
the graph over all embeddings lives on IndexedEmbedding (a worker adds new rows to it, off the
ingest path, migration 0007), the one over labelled rows on the transactions table. pgvector 0.6 applies a WHERE clause *after* the index scan, which
hands over at most `hnsw.ef_search` candidates, so a selective filter could leave fewer than
k rows although k exist. Every lookup here therefore promises k rows whenever k rows match:

1. labelled-only lookups search a partial HNSW index holding labelled rows alone, so that
   filter removes nothing after the scan;
2. a time window the planner's statistics put at most FRAUDCASE_KNN_EXACT_SCAN_MAX_ROWS rows
   is scanned exactly (a btree finds them); a wider one raises ef_search so that about
   WINDOW_OVERSAMPLING x k of the candidates fall in it;
3. exclusions (the transaction itself, its case, its account) are counted and ef_search
   raised by that many (ef_search is never below k, nor above pgvector's 1000);
4. short of k rows, ef_search is widened (x4, up to 1000) and the query repeated (dead row
   versions left in the index by updates starve it too, filter or not);
5. still short, an exact scan of the filtered rows (index scans off) settles it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from pgvector import Vector

from cases.errors import InvalidInput
from cases.models import Case, CaseStatus, Label, Resolution, Transaction

K_MAX = 100
# Leads every statement of a search: how many a lookup takes depends on the index's state
# (dead entries, a graph still filling), so query counts of pages leave them out by it.
SEARCH_MARK = "/* nearest-neighbour search */"
EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search
WIDENING_FACTOR = 4
# A window search asks the index for enough candidates that this many times k should pass.
WINDOW_OVERSAMPLING = 3
LABEL_TEXT = {Label.FRAUD: "Fraud", Label.LEGITIMATE: "Legitimate", "": "Not yet labelled"}
NO_EMBEDDING_TRANSACTION = (
    "This transaction has no embedding, so there is nothing to compare it with."
)
NO_EMBEDDING_CASE = (
    "No transaction in this case has an embedding, so there is nothing to compare it with."
)
ZERO_EMBEDDING = "The embedding is all zeros: it points nowhere, so nothing is similar to it."


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How a lookup was answered: "hnsw" (approximate) or "exact", the widest ef_search
    tried, and how many queries it took."""

    method: str
    ef_search: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Neighbour:
    transaction_pk: int
    transaction_id: str
    similarity: float
    label: str  # "fraud", "legitimate" or "" (not yet labelled)
    account_id: str
    amount: Decimal
    currency: str
    merchant: str
    occurred_at: datetime
    case_id: int
    case_reference: str
    case_status: str
    case_resolution: str
    hidden: bool = False  # in a case the viewer may not read: only similarity and label shown

    @property
    def label_text(self) -> str:
        return LABEL_TEXT.get(self.label, self.label)

    @property
    def case_resolution_text(self) -> str:
        if self.case_resolution:
            return Resolution(self.case_resolution).label
        return CaseStatus(self.case_status).label


def nearest_transactions(
    vector,
    *,
    k: int,
    only_labelled: bool = False,
    exclude_transaction_pk: int | None = None,
    exclude_case_id: int | None = None,
    exclude_account_id: str | None = None,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
) -> tuple[list[Neighbour], SearchPlan]:
    """The k transactions nearest to vector that pass the filters, most similar first, with
    their cases. k rows whenever k rows pass the filters (see the module docstring)."""
    check_k(k)
    conditions = ["tx.embedding IS NOT NULL"]
    params: dict = {"query": Vector(vector).to_text(), "k": k}
    if only_labelled:
        conditions.append("NOT (tx.label = '')")  # the very predicate of the partial index
    window = []
    if occurred_after is not None:
        window.append("tx.occurred_at >= %(occurred_after)s")
        params["occurred_after"] = occurred_after
    if occurred_before is not None:
        window.append("tx.occurred_at < %(occurred_before)s")
        params["occurred_before"] = occurred_before
    searched = list(conditions)
    in_window = searched + window
    conditions = list(in_window)
    # Rows the index hands over that are filtered out afterwards: the first search asks for
    # that many more candidates. Counted on btree indexes, cheap.
    excluded_rows = 0
    for column, value in (
        ("id", exclude_transaction_pk),
        ("case_id", exclude_case_id),
        ("account_id", exclude_account_id),
    ):
        if value is not None:
            conditions.append(f"tx.{column} <> %(exclude_{column})s")
            params[f"exclude_{column}"] = value
            excluded_rows += Transaction.objects.filter(**{column: value}).count()
    ef_start = min(max(ef_search_setting(), k + excluded_rows), EF_SEARCH_MAX)
    exact_first = False
    if window:
        window_rows, share = _window_estimate(
            searched, conditions[: len(searched) + len(window)], params
        )
        exact_first = window_rows <= settings.FRAUDCASE_KNN_EXACT_SCAN_MAX_ROWS
        # Of the candidates the index hands over, about `share` pass the window: ask for
        # enough that WINDOW_OVERSAMPLING times k are expected to pass.
        ef_start = min(max(ef_start, math.ceil(WINDOW_OVERSAMPLING * k / share)), EF_SEARCH_MAX)
    where = " AND ".join(conditions)
    exact_sql = NEAREST_SQL.format(candidates=LABELLED_OR_EXACT_CANDIDATES.format(conditions=where))
    index_sql = exact_sql
    if not only_labelled:
        index_sql = NEAREST_SQL.format(candidates=GRAPH_CANDIDATES.format(conditions=where))
    index_rows_sql = (
        "FROM cases_transaction WHERE NOT (label = '')" if only_labelled
        else "FROM cases_indexedembedding"
    )  # fmt: skip
    rows, plan = ladder(
        index_sql, params, k=k, ef_start=ef_start, exact_first=exact_first, exact_sql=exact_sql,
        index_rows_sql=index_rows_sql,
    )  # fmt: skip
    # A zero vector points nowhere: pgvector gives NaN, and it is nobody's neighbour.
    return [_neighbour(row) for row in rows if not math.isnan(row[2])], plan


# --- the search ----------------------------------------------------------------------------

# The inner query is the k-NN search an HNSW index serves (ORDER BY distance LIMIT k); the
# outer one fetches what the page shows, for those k rows only (read by _neighbour).
NEAREST_SQL = """
SELECT tx.id, tx.transaction_id, 1 - nearest.distance, tx.label, tx.account_id, tx.amount,
       tx.currency, tx.merchant, tx.occurred_at, tx.case_id, cs.status, cs.resolution
FROM ({candidates}) AS nearest
JOIN cases_transaction tx ON tx.id = nearest.id
JOIN cases_case cs ON cs.id = tx.case_id
ORDER BY nearest.distance
"""
NEAREST_CASES_SQL = """
SELECT case_id, 1 - (embedding <=> %(query)s::vector) AS similarity FROM cases_casecentroid
WHERE {conditions} ORDER BY embedding <=> %(query)s::vector LIMIT %(k)s
"""
# All rows: the graph on IndexedEmbedding, walked in distance order, each candidate joined
# to its transaction for the filters. Rows the worker has not added yet are not found.
GRAPH_CANDIDATES = """
SELECT tx.id, graph.embedding <=> %(query)s::vector AS distance
FROM cases_indexedembedding graph JOIN cases_transaction tx ON tx.id = graph.transaction_id
WHERE {conditions} ORDER BY distance LIMIT %(k)s
"""
# Labelled rows (the partial HNSW index on the transactions table), and exact scans: these
# read the transactions table itself, so they see every row, indexed into the graph or not.
LABELLED_OR_EXACT_CANDIDATES = """
SELECT tx.id, tx.embedding <=> %(query)s::vector AS distance FROM cases_transaction tx
WHERE {conditions} ORDER BY distance LIMIT %(k)s
"""
MERGED_CASES_SQL = f"SELECT id FROM cases_case WHERE status = '{CaseStatus.MERGED.value}'"


def _neighbour(row: tuple) -> Neighbour:
    pk, tx_id, similarity, label, account_id, amount, currency, merchant, occurred_at = row[:9]
    case_id, case_status, case_resolution = row[9:]
    return Neighbour(
        transaction_pk=pk, transaction_id=tx_id, similarity=similarity, label=label,
        account_id=account_id, amount=amount, currency=currency, merchant=merchant,
        occurred_at=occurred_at, case_id=case_id, case_reference=Case(pk=case_id).reference,
        case_status=case_status, case_resolution=case_resolution,
    )  # fmt: skip


def check_k(k: int) -> None:
    if not 1 <= k <= K_MAX:
        raise InvalidInput(f"k must be between 1 and {K_MAX}, not {k}")


def ef_search_setting() -> int:
    return min(max(settings.FRAUDCASE_HNSW_EF_SEARCH, 1), EF_SEARCH_MAX)


def _window_estimate(
    searched: list[str], in_window: list[str], params: dict
) -> tuple[float, float]:
    """(rows in the window, their share of the rows searched), as the planner estimates them
    from the table's statistics: planning only, no rows read."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (FORMAT JSON) SELECT 1 FROM cases_transaction tx "
            f"WHERE {' AND '.join(in_window)}; "
            f"EXPLAIN (FORMAT JSON) SELECT 1 FROM cases_transaction tx "
            f"WHERE {' AND '.join(searched)}",
            params,
        )
        window_rows = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
        cursor.nextset()
        searched_rows = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
    return window_rows, min(1.0, max(window_rows, 1) / max(searched_rows, 1))


def ladder(
    sql: str,
    params: dict,
    *,
    k: int,
    ef_start: int,
    exact_first: bool = False,
    exact_sql: str | None = None,
    index_rows_sql: str | None = None,
) -> tuple[list[tuple], SearchPlan]:
    """Run the top-k query through the HNSW index, widening ef_search while it returns fewer
    than k rows, and fall back to an exact scan; see the module docstring.

    Even an unfiltered search can come back short: the index keeps entries of dead row
    versions (every label change leaves one until VACUUM) and they use up candidates too.
    index_rows_sql (FROM ... of the rows the index holds) settles a short answer early: when
    the index holds fewer than k live rows, no widening can find k (a new install, or a graph
    the worker is still filling), so the exact scan comes at once.
    """
    attempts = 0
    ef_search = None
    if not exact_first:
        ef_search = ef_start
        while True:
            attempts += 1
            rows = _fetch_with_settings(sql, params, {"hnsw.ef_search": ef_search})
            if len(rows) >= k:
                return rows, SearchPlan("hnsw", ef_search, attempts)
            if ef_search >= EF_SEARCH_MAX:
                break
            if attempts == 1 and index_rows_sql and _rows_at_most(index_rows_sql, k - 1):
                break
            ef_search = min(ef_search * WIDENING_FACTOR, EF_SEARCH_MAX)
    # HNSW only serves plain index scans; with them off the planner reads the filtered rows
    # (bitmap scans on the btree indexes stay available) and sorts them: exact.
    rows = _fetch_with_settings(exact_sql or sql, params, {"enable_indexscan": "off"})
    return rows, SearchPlan("exact", ef_search, attempts + 1)


def _rows_at_most(from_sql: str, limit: int) -> bool:
    """Whether `SELECT ... {from_sql}` has at most limit rows (reads at most limit + 1)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"{SEARCH_MARK} SELECT count(*) FROM (SELECT 1 {from_sql} LIMIT %s) AS held",
            [limit + 1],
        )
        return cursor.fetchone()[0] <= limit


def _fetch_with_settings(sql: str, params: dict, values: dict[str, int | str]) -> list[tuple]:
    """Rows of sql run with these server settings for it alone, in one round trip.

    The set_config(..., true) calls and the query go as one multi-statement string: outside a
    transaction that is one implicit transaction, and the settings end with it. Inside a
    caller's transaction they would outlive the query, so it runs in a savepoint rolled back
    afterwards (it only reads: the rollback undoes nothing but the settings).
    """
    setters = [f"SELECT set_config('{name}', '{value}', true)" for name, value in values.items()]
    savepoint = transaction.savepoint() if connection.in_atomic_block else None
    try:
        with connection.cursor() as cursor:
            cursor.execute(SEARCH_MARK + " " + "; ".join([*setters, sql]), params)
            for _ in setters:
                cursor.nextset()
            return cursor.fetchall()
    finally:
        if savepoint is not None:
            transaction.savepoint_rollback(savepoint)
