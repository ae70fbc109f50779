"""Nearest neighbours at scale: HNSW build time, recall@10 and latency against an exact scan.

    python bench/knn.py [--rows 200000] [--queries 500] [--ef-search 40,64,100]

Loads N transactions with 384-dim clustered embeddings (5% labelled) into its own embedded
PostgreSQL under var/bench-knn (wiped at the start, stopped at the end) by binary COPY, builds
the HNSW indexes the way `rebuild_similarity_index` does (CREATE INDEX CONCURRENTLY) and
times it, then COPYs a last slice with the indexes in place (the cost ingest pays per row) and
times the worker adding that slice to the graph over all embeddings (IndexedEmbedding).
For Q fresh query vectors from the same distribution it measures, against an exact scan with
the same filter: recall@10 and p50/p95 latency of the raw index query at each ef_search, and
of the selector analysts go through (cases.similarity.selectors.nearest_transactions, with
its fallbacks), unfiltered, labelled-only, in a 7-day window, and excluding one account.
Finally the cost of the neighbour-verdict refresh per case.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-knn"
MARKER = ".fraudcase-bench-knn"  # only a folder carrying this is ever wiped
K = 10
GOALS = {"unfiltered": (0.97, 10.0), "labelled only": (0.95, 25.0)}  # recall@10, p95 ms
SPEEDUP_GOAL = 20
TRANSACTION_INDEXES = ("transaction_embedding_hnsw", "transaction_labelled_hnsw")


@dataclass
class ClusteredEmbeddings:
    """Embeddings with the structure a detector's have, not uniform noise.

    Behaviour patterns (clusters, Zipf-sized) live in a low-dimensional latent space; each
    has sub-patterns (merchant, channel, time of day) with their own spread; the latent
    points are projected into 384 dimensions by one fixed random map, plus a small isotropic
    residual, then normalised. The first fifth of the patterns are fraud patterns: a labelled
    transaction there is fraud with probability 0.9, elsewhere with 0.05.
    """

    seed: int = 20261129
    dim: int = 384
    latent_dim: int = 32
    patterns: int = 400
    sub_patterns: int = 8
    residual: float = 0.08

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.centres = rng.standard_normal((self.patterns, self.latent_dim)) * 1.5
        self.sub_offsets = rng.standard_normal((self.patterns, self.sub_patterns, self.latent_dim))
        self.sub_offsets *= rng.uniform(0.3, 0.8, (self.patterns, 1, 1))
        self.spread = rng.uniform(0.15, 0.45, self.patterns)
        weights = 1.0 / np.arange(1, self.patterns + 1) ** 0.8
        self.weights = weights / weights.sum()
        self.projection = rng.standard_normal((self.latent_dim, self.dim)) / np.sqrt(self.dim)

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(unit embeddings float32 (count, dim), pattern of each)."""
        pattern = rng.choice(self.patterns, count, p=self.weights)
        sub = rng.integers(0, self.sub_patterns, count)
        latent = self.centres[pattern] + self.sub_offsets[pattern, sub]
        latent += rng.standard_normal((count, self.latent_dim)) * self.spread[pattern, None]
        vectors = latent @ self.projection
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors += rng.standard_normal(vectors.shape) * (self.residual * norms / np.sqrt(self.dim))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32), pattern

    def is_fraud_pattern(self, pattern: np.ndarray) -> np.ndarray:
        return pattern < self.patterns // 5


# --- setup ---------------------------------------------------------------------------------


COPY_SQL = (
    "COPY cases_transaction (transaction_id, account_id, occurred_at, amount, currency, merchant,"
    " merchant_category, channel, country, device_id, similarity_score, model_version, outcome,"
    " embedding, case_id, label, ingested_at) FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = ["text", "text", "timestamptz", "numeric", "text", "text", "text", "text", "text",
              "text", "float8", "text", "text", "vector", "int8", "text", "timestamptz"]  # fmt: skip
START = datetime(2026, 8, 1, tzinfo=UTC)
DAYS = 90


def make_rows(args, generator: ClusteredEmbeddings) -> dict:
    """All rows as columns (numpy arrays), deterministic."""
    rng = np.random.default_rng([generator.seed, 1])
    embeddings, pattern = generator.sample(args.rows, rng)
    accounts = max(100, args.rows // 10)
    labelled = rng.random(args.rows) < args.labelled_share
    fraud = np.where(
        generator.is_fraud_pattern(pattern),
        rng.random(args.rows) < 0.9,
        rng.random(args.rows) < 0.05,
    )
    return {
        "embedding": embeddings,
        "account": (accounts * rng.random(args.rows) ** 1.5).astype(np.int64),
        "seconds": np.sort(rng.integers(0, DAYS * 86400, args.rows)),
        "label": np.where(labelled, np.where(fraud, "fraud", "legitimate"), ""),
        "cents": np.maximum(1, rng.lognormal(np.log(4000), 1.2, args.rows)).astype(np.int64),
    }


def copy_rows(rows: dict, case_ids: dict[str, int], start: int, stop: int) -> float:
    """Binary COPY rows[start:stop]; returns seconds."""
    from cases.ingest.copy import psycopg_connection

    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg_connection().cursor() as cursor, cursor.copy(COPY_SQL) as copy:
        copy.set_types(COPY_TYPES)
        for i in range(start, stop):
            account = f"acc-{rows['account'][i]:07d}"
            copy.write_row(
                (
                    f"knn-{i:09d}", account, START + timedelta(seconds=int(rows["seconds"][i])),
                    Decimal(int(rows["cents"][i])).scaleb(-2), "EUR", f"Merchant {i % 400:03d}",
                    "5411", "ecommerce", "DE", "", 0.5, "detector-2026.11.2", "investigate",
                    rows["embedding"][i], case_ids[account], str(rows["label"][i]), now,
                )
            )  # fmt: skip
    return time.perf_counter() - started


# --- measurements --------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@dataclass
class Mode:
    name: str
    where: str  # SQL after WHERE, with %(...)s placeholders for the query's own parameters
    selector_kwargs: dict


# (mode, ef or None) -> similarities of each query's results, to describe the data.
SIMILARITIES: dict[tuple[str, int | None], list[list[float]]] = {}


def raw_query(cursor, mode: Mode, vector_text: str, params: dict, *, ef: int | None) -> tuple:
    """(ids, seconds) of one top-K query: through HNSW at ef, or when ef is None exactly,
    by brute force (a sequential scan of the table, no index at all)."""
    cursor.execute("BEGIN")
    if ef:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef)])
    else:
        cursor.execute(
            "SELECT set_config('enable_indexscan', 'off', true), "
            "set_config('enable_bitmapscan', 'off', true)"
        )
    # Through an index, labelled-only searches read the transactions table's partial graph,
    # the others the graph over all embeddings; the exact truth reads the transactions table.
    source = "cases_transaction t"
    if ef and not mode.selector_kwargs.get("only_labelled"):
        source = "cases_indexedembedding g JOIN cases_transaction t ON t.id = g.transaction_id"
    vectors = "g" if source.startswith("cases_indexedembedding") else "t"
    started = time.perf_counter()
    cursor.execute(
        f"SELECT t.id, 1 - ({vectors}.embedding <=> %(q)s::vector) FROM {source} "
        f"WHERE t.embedding IS NOT NULL AND {mode.where} "
        f"ORDER BY {vectors}.embedding <=> %(q)s::vector LIMIT %(k)s",
        {**params, "q": vector_text, "k": K},
    )
    found = cursor.fetchall()
    seconds = time.perf_counter() - started
    cursor.execute("COMMIT")
    SIMILARITIES.setdefault((mode.name, ef), []).append([similarity for _, similarity in found])
    return [row_id for row_id, _ in found], seconds


def recall(found: list[int], truth: list[int]) -> float:
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def measure(args, queries: np.ndarray, query_params: list[dict]) -> list[dict]:
    from django.conf import settings
    from django.db import connection

    from cases.similarity.search import nearest_transactions

    modes = [
        Mode("unfiltered", "TRUE", {}),
        Mode("labelled only", "NOT (label = '')", {"only_labelled": True}),
        Mode(
            "7-day window", "occurred_at >= %(after)s AND occurred_at < %(before)s",
            {"occurred_after": "after", "occurred_before": "before"},
        ),
        Mode(
            "labelled, 7-day window",
            "NOT (label = '') AND occurred_at >= %(after)s AND occurred_at < %(before)s",
            {"only_labelled": True, "occurred_after": "after", "occurred_before": "before"},
        ),
        Mode("other accounts", "account_id <> %(account)s", {"exclude_account_id": "account"}),
    ]  # fmt: skip
    ef_values = [int(value) for value in args.ef_search.split(",")]
    results = []
    texts = ["[" + ",".join(f"{x:.7g}" for x in vector) + "]" for vector in queries]
    with connection.cursor() as cursor:
        for mode in modes:
            print(f"measuring {mode.name} ...", file=sys.stderr, flush=True)
            for text, params in zip(texts[:20], query_params[:20], strict=True):  # warm caches
                raw_query(cursor, mode, text, params, ef=max(ef_values))
            truth, exact_seconds = [], []
            for text, params in zip(texts, query_params, strict=True):
                ids, seconds = raw_query(cursor, mode, text, params, ef=None)
                truth.append(ids)
                exact_seconds.append(seconds)
            exact_p50 = percentile(exact_seconds, 0.5) * 1000
            results.append(
                row_for(mode.name, "exact, no index", None, 1.0, exact_seconds, exact_p50)
            )
            for ef in ef_values:
                found, seconds_list = [], []
                for text, params in zip(texts, query_params, strict=True):
                    ids, seconds = raw_query(cursor, mode, text, params, ef=ef)
                    found.append(ids)
                    seconds_list.append(seconds)
                mean_recall = statistics.mean(map(recall, found, truth))
                results.append(
                    row_for(mode.name, "index query", ef, mean_recall, seconds_list, exact_p50)
                )
            for ef in ef_values:
                settings.FRAUDCASE_HNSW_EF_SEARCH = ef
                recalls, seconds_list, methods = [], [], {}
                for vector, params, ids in zip(queries, query_params, truth, strict=True):
                    kwargs = {key: params.get(value, value) for key, value in mode.selector_kwargs.items()}  # fmt: skip
                    started = time.perf_counter()
                    neighbours, plan = nearest_transactions(vector, k=K, **kwargs)
                    seconds_list.append(time.perf_counter() - started)
                    recalls.append(recall([n.transaction_pk for n in neighbours], ids))
                    label = plan.method if plan.attempts == 1 else f"{plan.method} ({plan.attempts} queries)"  # fmt: skip
                    methods[label] = methods.get(label, 0) + 1
                row = row_for(mode.name, "selector", ef, statistics.mean(recalls), seconds_list, exact_p50)  # fmt: skip
                row["plans"] = ", ".join(f"{count}× {label}" for label, count in sorted(methods.items()))  # fmt: skip
                results.append(row)
    return results


def row_for(mode, path, ef, mean_recall, seconds_list, exact_p50_ms) -> dict:
    p50 = percentile(seconds_list, 0.5) * 1000
    return {
        "mode": mode, "path": path, "ef": ef, "recall": mean_recall, "p50": p50,
        "p95": percentile(seconds_list, 0.95) * 1000, "speedup": exact_p50_ms / p50, "plans": "",
    }  # fmt: skip


def verdict_refresh_cost(case_count: int) -> tuple[int, float]:
    from cases.models import Case
    from cases.similarity.services import cases_refresh_neighbour_verdict

    ids = list(Case.objects.order_by("?").values_list("id", flat=True)[:case_count])
    started = time.perf_counter()
    cases_refresh_neighbour_verdict(case_ids=ids)
    return len(ids), time.perf_counter() - started


# --- report --------------------------------------------------------------------------------


def describe_commit() -> str:
    def git(*git_args: str) -> str:
        done = subprocess.run(["git", *git_args], cwd=BASE_DIR, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no") or git(
        "ls-files", "--others", "--exclude-standard", "cases", "fraudcase"
    ):
        commit += " (plus uncommitted changes in the work tree)"
    return commit


def goal_cell(row: dict) -> str:
    goal = GOALS.get(row["mode"])
    if row["path"] != "selector" or goal is None:
        return ""
    recall_goal, p95_goal = goal
    met = row["recall"] >= recall_goal and row["p95"] <= p95_goal and row["speedup"] >= SPEEDUP_GOAL
    return f"≥ {recall_goal}, ≤ {p95_goal:g} ms, ≥ {SPEEDUP_GOAL}×: {'met' if met else 'NOT met'}"


def results_table(results: list[dict]) -> str:
    lines = [
        "| filter | path | ef_search | recall@10 | p50 ms | p95 ms | × faster than exact (p50) | goal | how answered |",  # fmt: skip
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in results:
        lines.append(
            f"| {row['mode']} | {row['path']} | {row['ef'] or '—'} | {row['recall']:.3f} | "
            f"{row['p50']:.1f} | {row['p95']:.1f} | {row['speedup']:.0f} | {goal_cell(row)} | {row['plans']} |"
        )  # fmt: skip
    return "\n".join(lines)


def run(args) -> None:
    use_own_servers(args.var_dir, production_like=False)
    commit = describe_commit()
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/knn.py")
    import django

    try:
        django.setup()
        report(args, commit)
    finally:
        from django.db import connections

        from fraudcase import embedded

        connections.close_all()
        if not args.keep_servers:
            embedded.stop_all(args.var_dir)


def report(args, commit: str) -> None:
    import psutil
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from cases.ingest.case_opening import cases_open_for_accounts
    from cases.similarity.index_builds import similarity_index_rebuild
    from cases.similarity.services import similarity_index_catch_up

    call_command("migrate", verbosity=0)
    generator = ClusteredEmbeddings()
    rows = make_rows(args, generator)
    accounts = sorted({f"acc-{account:07d}" for account in rows["account"]})
    case_ids, _ = cases_open_for_accounts(account_ids=accounts)
    with connection.cursor() as cursor:
        for name in TRANSACTION_INDEXES:  # loaded bare, then built: what the build costs
            cursor.execute(f'DROP INDEX "{name}"')
    bulk = args.rows - args.incremental_rows
    print(f"loading {bulk} rows ...", file=sys.stderr, flush=True)
    bare_seconds = copy_rows(rows, case_ids, 0, bulk)
    with connection.cursor() as cursor:  # the graph's table, filled in bulk before its build
        cursor.execute(
            "INSERT INTO cases_indexedembedding (transaction_id, embedding) "
            "SELECT id, embedding FROM cases_transaction WHERE embedding IS NOT NULL"
        )
        cursor.execute("TRUNCATE cases_embeddingbacklog")
    builds = similarity_index_rebuild(
        only="transaction_embedding_hnsw", progress=lambda m: print(m, file=sys.stderr)
    ) + similarity_index_rebuild(
        only="transaction_labelled_hnsw", progress=lambda m: print(m, file=sys.stderr)
    )  # fmt: skip
    print(f"loading {args.incremental_rows} rows into the indexed table ...", file=sys.stderr)
    indexed_seconds = copy_rows(rows, case_ids, bulk, args.rows)
    print("adding them to the graph ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    graph_rows = similarity_index_catch_up()
    graph_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE cases_transaction")
        cursor.execute("VACUUM ANALYZE cases_indexedembedding")
        cursor.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
            [[*TRANSACTION_INDEXES, "cases_transaction"]],
        )
        sizes = dict(cursor.fetchall())
        cursor.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
            "current_setting('shared_buffers'), current_setting('max_parallel_maintenance_workers')"
        )
        pg_version, vector_version, shared_buffers, parallel_workers = cursor.fetchone()
    query_rng = np.random.default_rng([generator.seed, 2])
    queries, _ = generator.sample(args.queries, query_rng)
    window_starts = query_rng.integers(0, (DAYS - 7) * 86400, args.queries)
    query_accounts = rows["account"][query_rng.integers(0, args.rows, args.queries)]
    query_params = [
        {
            "after": START + timedelta(seconds=int(start)),
            "before": START + timedelta(seconds=int(start) + 7 * 86400),
            "account": f"acc-{account:07d}",
        }
        for start, account in zip(window_starts, query_accounts, strict=True)
    ]
    load_before = os.getloadavg()
    results = measure(args, queries, query_params)
    refreshed, refresh_seconds = verdict_refresh_cost(args.refresh_cases)
    labelled = int((rows["label"] != "").sum())
    exact = [sims for sims in SIMILARITIES[("unfiltered", None)] if len(sims) == K]
    first, tenth = statistics.mean(s[0] for s in exact), statistics.mean(s[-1] for s in exact)

    print()
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit: {commit}")
    print(
        f"- machine: nproc {os.cpu_count()}, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, PostgreSQL {pg_version} + pgvector {vector_version} "
        f"(shared_buffers {shared_buffers}, max_parallel_maintenance_workers {parallel_workers}); "
        f"load average {load_before[0]:.1f} before the queries, {os.getloadavg()[0]:.1f} after"
    )  # fmt: skip
    print(f"- command: python bench/knn.py {' '.join(sys.argv[1:])}")
    print(
        f"- data: {args.rows:,} transactions, {len(accounts):,} accounts/cases, {labelled:,} labelled "
        f"({labelled / args.rows:.1%}); {generator.patterns} behaviour patterns x {generator.sub_patterns} "
        f"sub-patterns in a {generator.latent_dim}-dim latent space projected to {generator.dim} dims; "
        f"a query's exact nearest neighbour has similarity {first:.3f} on average, its 10th {tenth:.3f}"
    )  # fmt: skip
    print(
        f"- settings: m {settings.FRAUDCASE_HNSW_M}, ef_construction {settings.FRAUDCASE_HNSW_EF_CONSTRUCTION}, "
        f"build memory {settings.FRAUDCASE_HNSW_BUILD_MEMORY}, exact-scan window limit "
        f"{settings.FRAUDCASE_KNN_EXACT_SCAN_MAX_ROWS:,} rows; {args.queries} queries, k = {K}"
    )  # fmt: skip
    print()
    print("| step | seconds | rows/s | size MiB |")
    print("|---|---:|---:|---:|")
    print(f"| binary COPY of {bulk:,} rows, no HNSW index | {bare_seconds:.1f} | {bulk / bare_seconds:,.0f} | {sizes['cases_transaction'] / 2**20:.0f} (table) |")  # fmt: skip
    for build in builds:
        print(f"| CREATE INDEX CONCURRENTLY {build.name} | {build.seconds:.1f} | — | {sizes[build.name] / 2**20:.0f} |")  # fmt: skip
    print(f"| binary COPY of {args.incremental_rows:,} more rows, indexes in place | {indexed_seconds:.1f} | {args.incremental_rows / indexed_seconds:,.0f} | — |")  # fmt: skip
    print(f"| worker adds those {graph_rows:,} rows to the graph (similarity_index_catch_up) | {graph_seconds:.1f} | {graph_rows / graph_seconds:,.0f} | — |")  # fmt: skip
    print(f"| neighbour verdict refresh of {refreshed:,} cases | {refresh_seconds:.1f} | {refreshed / refresh_seconds:,.0f} cases/s | — |")  # fmt: skip
    print()
    print(results_table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--labelled-share", type=float, default=0.05)
    parser.add_argument("--ef-search", default="40,64,100", help="comma-separated values to try")
    parser.add_argument(
        "--incremental-rows", type=int, default=5000, help="rows loaded after the index build"
    )
    parser.add_argument("--refresh-cases", type=int, default=1000)
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    parser.add_argument("--keep-servers", action="store_true")
    args = parser.parse_args()
    args.var_dir = args.var_dir.resolve()
    sys.path.insert(0, str(BASE_DIR))
    run(args)


if __name__ == "__main__":
    main()
