"""Keeping the ingest rollups: per ingest run and day, what the dashboards aggregate.

record_chunk is ingest's one call (cases.ingest.chunks, inside each chunk's transaction): it
folds the chunk's new transactions, already in memory, into BatchRollup, CurrencyRollup,
FeatureRollup and CategoryRollup with four upserts, so the rollups commit with the rows or not
at all and a retried chunk never counts twice. rollups_rebuild computes them again from the transactions
table in SQL (after a bulk load that bypassed ingest, or to repair). The label rollup
(LabelFact) and the label versions per day (LabelDayRollup) are kept by database triggers
(analytics/migrations/0002, 0003); the label counters (LabelDayRollup, LabelFactDay) are
append-only rows summed on read (0005), folded by label_counters_compact.

Bins are the same here and in SQL: the score in SCORE_BINS bins of [0, 1] (1.0 in the last),
features in bins of FEATURE_STEP from FEATURE_LOW to FEATURE_HIGH plus one bin below and one
above.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from analytics.models import (
    CATEGORY_DIMENSIONS,
    FEATURE_BINS,
    FEATURE_LOW,
    FEATURE_STEP,
    SCORE_BINS,
)

OUTCOME_COLUMNS = {"approve": "approve", "investigate": "investigate", "block": "block"}


def score_bin(score: float) -> int:
    return min(SCORE_BINS - 1, max(0, math.floor(score * SCORE_BINS)))


def feature_bins(values: np.ndarray) -> np.ndarray:
    bins = np.floor((values - FEATURE_LOW) / FEATURE_STEP).astype(np.int64) + 1
    return np.clip(bins, 0, FEATURE_BINS - 1)


def _array_text(numbers) -> str:
    return "{" + ",".join(str(int(n)) for n in numbers) + "}"


def _vector_text(vector: np.ndarray | None) -> str | None:
    if vector is None:
        return None
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def record_chunk(*, run_id: int, transactions: Sequence) -> None:
    """Fold newly loaded transactions (ingest's CleanTransaction) into the rollups.

    Call inside the transaction that loads them. Four statements whatever the chunk's size.
    """
    if not transactions or not settings.FRAUDCASE_ANALYTICS_ROLLUPS:
        return
    zone = ZoneInfo(settings.TIME_ZONE)
    days = [tx.occurred_at.astimezone(zone).date() for tx in transactions]
    batches: dict[tuple, list[int]] = defaultdict(list)
    for index, tx in enumerate(transactions):
        batches[(days[index], tx.model_version)].append(index)
    scores = np.fromiter((tx.similarity_score for tx in transactions), dtype=np.float64)
    score_bins = np.clip(np.floor(scores * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1)

    batch_rows = []
    for (day, model_version), indexes in batches.items():
        outcomes = Counter(transactions[i].outcome for i in indexes)
        vectors = [transactions[i].embedding for i in indexes]
        vectors = [v for v in vectors if v is not None]
        total = np.sum(np.stack(vectors), axis=0, dtype=np.float64) if vectors else None
        batch_rows.append((
            day, model_version, len(indexes), float(scores[indexes].sum()), outcomes.get("approve", 0), outcomes.get("investigate", 0),
            outcomes.get("block", 0), outcomes.get("", 0),
            _array_text(np.bincount(score_bins[indexes], minlength=SCORE_BINS)),
            _vector_text(total), len(vectors),
        ))  # fmt: skip

    feature_values: dict[tuple, list[float]] = defaultdict(list)
    categories: Counter = Counter()
    for index, tx in enumerate(transactions):
        for name, value in (tx.features or {}).items():
            feature_values[(days[index], name)].append(value)
        for dimension in CATEGORY_DIMENSIONS:
            categories[(days[index], dimension, getattr(tx, dimension) or "")] += 1
    feature_rows = []
    for (day, name), values in feature_values.items():
        array = np.asarray(values, dtype=np.float64)
        feature_rows.append((
            day, name, len(values), float(array.sum()), float((array * array).sum()),
            _array_text(np.bincount(feature_bins(array), minlength=FEATURE_BINS)),
        ))  # fmt: skip
    category_rows = [(day, dim, value, n) for (day, dim, value), n in categories.items()]
    money: dict[tuple, list] = {}
    for index, tx in enumerate(transactions):
        sums = money.setdefault((days[index], tx.currency), [0, Decimal(0)])
        sums[0] += 1
        sums[1] += tx.amount
    currency_rows = [(day, currency, n, amount) for (day, currency), (n, amount) in money.items()]
    _upsert(run_id, batch_rows, feature_rows, category_rows, currency_rows)


def _columns(rows: list[tuple]) -> list[list]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else []


# Element-wise sum of two equally long bigint arrays (the old row's bins and the new ones).
_ADD_BINS = (
    "(SELECT array_agg(a + b ORDER BY i) FROM unnest({old}, EXCLUDED.{col}) "
    "WITH ORDINALITY AS bins(a, b, i))"
)

_BATCH_UPSERT = f"""
INSERT INTO analytics_batchrollup (run_id, day, model_version, transactions, score_sum,
    approve, investigate, block, no_outcome, score_histogram, embedding_sum, embeddings)
SELECT %(run_id)s, day, model, n, score, approve, investigate, block, none_,
       hist::bigint[], vector::vector, embeddings
FROM unnest(%(day)s::date[], %(model)s::text[], %(n)s::bigint[],
            %(score)s::float8[], %(approve)s::bigint[], %(investigate)s::bigint[],
            %(block)s::bigint[], %(none)s::bigint[], %(hist)s::text[], %(vector)s::text[],
            %(embeddings)s::bigint[])
     AS r(day, model, n, score, approve, investigate, block, none_, hist, vector, embeddings)
ON CONFLICT (run_id, day, model_version) DO UPDATE SET
    transactions = analytics_batchrollup.transactions + EXCLUDED.transactions,
    score_sum = analytics_batchrollup.score_sum + EXCLUDED.score_sum,
    approve = analytics_batchrollup.approve + EXCLUDED.approve,
    investigate = analytics_batchrollup.investigate + EXCLUDED.investigate,
    block = analytics_batchrollup.block + EXCLUDED.block,
    no_outcome = analytics_batchrollup.no_outcome + EXCLUDED.no_outcome,
    score_histogram = {_ADD_BINS.format(old="analytics_batchrollup.score_histogram", col="score_histogram")},
    embedding_sum = CASE WHEN analytics_batchrollup.embedding_sum IS NULL THEN EXCLUDED.embedding_sum
                         WHEN EXCLUDED.embedding_sum IS NULL THEN analytics_batchrollup.embedding_sum
                         ELSE analytics_batchrollup.embedding_sum + EXCLUDED.embedding_sum END,
    embeddings = analytics_batchrollup.embeddings + EXCLUDED.embeddings
"""  # noqa: E501

_FEATURE_UPSERT = f"""
INSERT INTO analytics_featurerollup (run_id, day, feature, values, total, squares, histogram)
SELECT %(run_id)s, day, feature, n, total, squares, hist::bigint[]
FROM unnest(%(day)s::date[], %(feature)s::text[], %(n)s::bigint[], %(total)s::float8[],
            %(squares)s::float8[], %(hist)s::text[]) AS r(day, feature, n, total, squares, hist)
ON CONFLICT (run_id, day, feature) DO UPDATE SET
    values = analytics_featurerollup.values + EXCLUDED.values,
    total = analytics_featurerollup.total + EXCLUDED.total,
    squares = analytics_featurerollup.squares + EXCLUDED.squares,
    histogram = {_ADD_BINS.format(old="analytics_featurerollup.histogram", col="histogram")}
"""

_CATEGORY_UPSERT = """
INSERT INTO analytics_categoryrollup (run_id, day, dimension, value, transactions)
SELECT %(run_id)s, day, dimension, value, n
FROM unnest(%(day)s::date[], %(dimension)s::text[], %(value)s::text[], %(n)s::bigint[])
     AS r(day, dimension, value, n)
ON CONFLICT (run_id, day, dimension, value) DO UPDATE SET
    transactions = analytics_categoryrollup.transactions + EXCLUDED.transactions
"""


_CURRENCY_UPSERT = """
INSERT INTO analytics_currencyrollup (run_id, day, currency, transactions, amount)
SELECT %(run_id)s, day, currency, n, amount
FROM unnest(%(day)s::date[], %(currency)s::text[], %(n)s::bigint[], %(amount)s::numeric[])
     AS r(day, currency, n, amount)
ON CONFLICT (run_id, day, currency) DO UPDATE SET
    transactions = analytics_currencyrollup.transactions + EXCLUDED.transactions,
    amount = analytics_currencyrollup.amount + EXCLUDED.amount
"""


def _upsert(run_id: int, batch_rows, feature_rows, category_rows, currency_rows) -> None:
    with connection.cursor() as cursor:
        day, model, n, score, approve, investigate, block, none, hist, vector, emb = _columns(
            batch_rows
        )
        cursor.execute(_BATCH_UPSERT, {
            "run_id": run_id, "day": day, "model": model, "n": n,
            "score": score, "approve": approve, "investigate": investigate, "block": block,
            "none": none, "hist": hist, "vector": vector, "embeddings": emb,
        })  # fmt: skip
        if feature_rows:
            day, feature, n, total, squares, hist = _columns(feature_rows)
            cursor.execute(_FEATURE_UPSERT, {
                "run_id": run_id, "day": day, "feature": feature, "n": n, "total": total,
                "squares": squares, "hist": hist,
            })  # fmt: skip
        day, currency, n, amount = _columns(currency_rows)
        cursor.execute(_CURRENCY_UPSERT, {
            "run_id": run_id, "day": day, "currency": currency, "n": n, "amount": amount,
        })  # fmt: skip
        if category_rows:
            day, dimension, value, n = _columns(category_rows)
            cursor.execute(_CATEGORY_UPSERT, {
                "run_id": run_id, "day": day, "dimension": dimension, "value": value, "n": n,
            })  # fmt: skip


# --- rebuilding from the transactions table ---------------------------------------------


def _bins_array(count: int, column: str = "bin", value: str = "n") -> str:
    return "ARRAY[" + ", ".join(
        f"coalesce(sum({value}) FILTER (WHERE {column} = {b}), 0)" for b in range(count)
    ) + "]::bigint[]"  # fmt: skip


_DAY = "(t.occurred_at AT TIME ZONE %(zone)s)::date"

_BATCH_REBUILD = f"""
INSERT INTO analytics_batchrollup (run_id, day, model_version, transactions, score_sum,
    approve, investigate, block, no_outcome, score_histogram, embedding_sum, embeddings)
SELECT run_id, day, model_version, sum(n), sum(score_sum), sum(approve),
       sum(investigate), sum(block), sum(no_outcome), {_bins_array(SCORE_BINS)},
       sum(embedding_sum), sum(embeddings)
FROM (SELECT coalesce(t.ingest_run_id, 0) AS run_id, {_DAY} AS day, t.model_version,
             least({SCORE_BINS - 1}, floor(t.similarity_score * {SCORE_BINS})::int) AS bin,
             count(*) AS n, sum(t.similarity_score) AS score_sum,
             count(*) FILTER (WHERE t.outcome = 'approve') AS approve,
             count(*) FILTER (WHERE t.outcome = 'investigate') AS investigate,
             count(*) FILTER (WHERE t.outcome = 'block') AS block,
             count(*) FILTER (WHERE t.outcome = '') AS no_outcome,
             sum(t.embedding) AS embedding_sum, count(t.embedding) AS embeddings
      FROM cases_transaction t GROUP BY 1, 2, 3, 4) AS binned
GROUP BY run_id, day, model_version
"""

_FEATURE_REBUILD = f"""
INSERT INTO analytics_featurerollup (run_id, day, feature, values, total, squares, histogram)
SELECT run_id, day, feature, sum(n), sum(total), sum(squares), {_bins_array(FEATURE_BINS)}
FROM (SELECT run_id, day, feature,
             least({FEATURE_BINS - 1}, greatest(0, floor((x - ({FEATURE_LOW})) / {FEATURE_STEP})::int + 1)) AS bin,
             count(*) AS n, sum(x) AS total, sum(x * x) AS squares
      FROM (SELECT coalesce(t.ingest_run_id, 0) AS run_id, {_DAY} AS day, f.key AS feature,
                   f.value::float8 AS x
            FROM cases_transaction t, jsonb_each_text(t.features) AS f
            WHERE jsonb_typeof(t.features) = 'object') AS v
      GROUP BY 1, 2, 3, 4) AS binned
GROUP BY run_id, day, feature
"""  # noqa: E501

_CATEGORY_REBUILD = "\nUNION ALL\n".join(
    f"""SELECT coalesce(t.ingest_run_id, 0), {_DAY}, '{dimension}', t.{dimension}, count(*)
FROM cases_transaction t GROUP BY 1, 2, 4"""
    for dimension in CATEGORY_DIMENSIONS
)

_CURRENCY_REBUILD = f"""
INSERT INTO analytics_currencyrollup (run_id, day, currency, transactions, amount)
SELECT coalesce(t.ingest_run_id, 0), {_DAY}, t.currency, count(*), sum(t.amount)
FROM cases_transaction t GROUP BY 1, 2, 3
"""

_LABEL_FACT_REBUILD = """
INSERT INTO analytics_labelfact (transaction_id, case_id, account_id, occurred_at, day,
    labelled_at, labelled_by_id, label, model_version, score, outcome, decision,
    neighbour_share, country, amount, currency)
SELECT t.id, t.case_id, t.account_id, t.occurred_at, (t.occurred_at AT TIME ZONE %(zone)s)::date,
       t.labelled_at, t.labelled_by_id, t.label, t.model_version, t.similarity_score, t.outcome,
       t.decision,
       (SELECT v.neighbour_fraud_share FROM cases_labelversion v
         WHERE v.transaction_id = t.id AND v.status IN ('pending', 'exported')
         ORDER BY v.version DESC LIMIT 1),
       t.country, t.amount, t.currency
FROM cases_transaction t WHERE t.label <> ''
"""


# One statement, one snapshot (a data-modifying WITH always runs, on the statement's snapshot):
# the versions it counts are exactly those whose delta rows it deletes; a version committed
# meanwhile keeps its own rows, counted once either way.
_LABEL_DAY_REBUILD = """
WITH gone AS (DELETE FROM analytics_labeldayrollup RETURNING 1)
INSERT INTO analytics_labeldayrollup (day, analyst_id, label, hold_reason, versions, flips)
SELECT (v.decided_at AT TIME ZONE %(zone)s)::date, v.analyst_id, v.label, v.hold_reason,
       count(*), count(*) FILTER (WHERE s.label <> v.label)
FROM cases_labelversion v LEFT JOIN cases_labelversion s ON s.id = v.supersedes_id
GROUP BY 1, 2, 3, 4
"""

# The counters' rows deleted and written again: one at a time (rebuild or compaction), or a
# second would re-insert sums of rows the first has replaced (counted twice).
LABEL_COUNTERS_LOCK = 0x4643_4C43_4E54  # "FCLCNT"

# Each key's rows folded into one row holding their sum, in one statement (one snapshot): a
# delta row committed meanwhile is neither deleted nor summed, so every sum stays what it was.
_COMPACT_SQL = {
    "analytics_labeldayrollup": """
WITH gone AS (
    DELETE FROM analytics_labeldayrollup WHERE id IN (
        SELECT id FROM (
            SELECT id, count(*) OVER (PARTITION BY day, analyst_id, label, hold_reason) AS key_rows
            FROM analytics_labeldayrollup) AS keyed
        WHERE key_rows > 1)
    RETURNING day, analyst_id, label, hold_reason, versions, flips
), kept AS (
    INSERT INTO analytics_labeldayrollup (day, analyst_id, label, hold_reason, versions, flips)
    SELECT day, analyst_id, label, hold_reason, sum(versions), sum(flips) FROM gone
    GROUP BY 1, 2, 3, 4 HAVING sum(versions) <> 0 OR sum(flips) <> 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)
""",
    "analytics_labelfactday": """
WITH gone AS (
    DELETE FROM analytics_labelfactday WHERE id IN (
        SELECT id FROM (
            SELECT id, count(*) OVER (PARTITION BY day) AS key_rows FROM analytics_labelfactday
        ) AS keyed
        WHERE key_rows > 1)
    RETURNING day, changes
), kept AS (
    INSERT INTO analytics_labelfactday (day, changes)
    SELECT day, sum(changes) FROM gone GROUP BY day
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)
""",
}


def label_counters_compact() -> dict[str, int]:
    """Fold each key's delta rows of the label counters into one (beat). Idempotent: the sums
    (what every reader sees) are the same before and after, and a second run finds one row
    per key. Derived data, no one's decision: no audit event. Returns the rows removed per
    table; {} when a rebuild or another compaction holds the counters."""
    removed = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LABEL_COUNTERS_LOCK])
        if not cursor.fetchone()[0]:
            return {}
        for table, sql in _COMPACT_SQL.items():
            cursor.execute(sql)
            removed[table] = cursor.fetchone()[0]
    return removed


def rollups_rebuild() -> dict[str, int]:
    """Compute every rollup again from the transactions table, in one transaction (readers
    see the old figures until it commits). Returns the rows written per table."""
    written = {}
    params = {"zone": settings.TIME_ZONE}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Fresh statistics first: a rebuild follows a bulk load that bypassed ingest, before
        # autovacuum has looked at it. At 1M rows the same rebuild took 1,166 s right after
        # bench/analytics.py's bulk seed (not yet vacuumed nor analysed) and 28 s after a
        # VACUUM ANALYZE (bench/RESULTS.md); ANALYZE is the part that can run in a transaction.
        cursor.execute("ANALYZE cases_transaction, cases_labelversion")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LABEL_COUNTERS_LOCK])
        for table, sql in (
            ("analytics_batchrollup", _BATCH_REBUILD),
            ("analytics_currencyrollup", _CURRENCY_REBUILD),
            ("analytics_featurerollup", _FEATURE_REBUILD),
            (
                "analytics_categoryrollup",
                "INSERT INTO analytics_categoryrollup (run_id, day, dimension, value, "
                f"transactions)\n{_CATEGORY_REBUILD}",
            ),
            ("analytics_labelfact", _LABEL_FACT_REBUILD),
        ):
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute(sql, params)
            written[table] = cursor.rowcount
        cursor.execute(_LABEL_DAY_REBUILD, params)
        written["analytics_labeldayrollup"] = cursor.rowcount
    return written
