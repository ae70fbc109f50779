"""Ingest throughput and memory: the real S3 ingest path against a bare binary COPY.

    python bench/ingest.py --rows 100000 [--formats parquet,csv.gz] [--chunk-rows 5000]

Generates N flagged transactions per format, writes them to the embedded S3 as objects of at
most --part-rows rows, ingests each format in a child process (which reports its own peak
RSS) and, in the same run, binary-COPYs the same N rows into a bare table without indexes.
Everything runs on embedded servers under var/bench, wiped at the start of each run.
--rollups-compare N then ingests the same files N times with the analytics rollups off and N
times on, alternating, each into the database as it was before the first ingest (issue 16:
the rollups add at most 10 % to ingest time).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench"
MARKER = ".fraudcase-bench"  # only a folder carrying this is ever wiped
BUCKET = "fraudcase-bench"
RESULT_PREFIX = "BENCH_RESULT "
# The goals (issue 14): ingest rows/s as a share of the rows/s of a binary COPY of the same
# payload into an empty copy of cases_transaction with all its indexes, constraints and its
# trigger; the ingest's peak RSS; two ingesting processes against one.
RATIO_GOALS = {"parquet": 0.5, "csv.gz": 0.35}
SCALE_OUT_GOAL = 1.6
PEAK_RSS_GOAL_MB = 400
ID_TAGS = {"parquet": "pq", "csv.gz": "cg", "csv": "cv", "jsonl": "jl", "jsonl.gz": "jg"}


def bare_columns() -> tuple[tuple[str, str], ...]:
    """The contract's columns with the types ingest COPYs them as (the embedding as a vector:
    the bare COPY dumps it with pgvector's own adapter), in ingest's order."""
    from cases.ingest.contract import CONTRACT_COLUMNS
    from cases.ingest.copy import COPY_COLUMNS

    return tuple(
        (name, "vector(384)" if name == "embedding" else type_name)
        for name, type_name in COPY_COLUMNS
        if name in CONTRACT_COLUMNS
    )


# --- rows ----------------------------------------------------------------------------------


@dataclass
class RowFactory:
    """Deterministic flagged transactions, built a part at a time with numpy.

    Embeddings are unit vectors scattered around CLUSTERS centroids (cosine ~0.8 to their
    centroid), as a detector's embeddings of similar behaviour are; the first FRAUD_CLUSTERS
    clusters score high, the rest low. Accounts repeat (about ten rows each, mildly skewed).
    """

    total_rows: int
    seed: int = 20261128
    dim: int = 384
    CLUSTERS = 50
    FRAUD_CLUSTERS = 10
    START = datetime(2026, 11, 1, tzinfo=UTC)
    CHANNELS = ("card_present", "ecommerce", "transfer", "atm")
    FIRST_OCTETS = (31, 46, 62, 77, 81, 85, 91, 93, 176, 178, 185, 188, 193, 212, 217)
    ODD_MERCHANTS = ('Café "Zur Post", Berlin', "O'Reilly Books", "Bäckerei Müller", "Shop; Ltd")

    def __post_init__(self) -> None:
        import numpy as np

        rng = np.random.default_rng(self.seed)
        centroids = rng.standard_normal((self.CLUSTERS, self.dim))
        self.centroids = (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).astype(
            np.float32
        )
        self.accounts = max(100, self.total_rows // 10)
        self.merchants = [f"Merchant {i:03d}" for i in range(400)] + list(self.ODD_MERCHANTS)
        self.seconds_per_row = 30 * 86400 / max(1, self.total_rows)

    def part(
        self, start: int, count: int, id_tag: str, account_tag: str | None = None
    ) -> list[dict]:
        """Rows start .. start+count-1; id_tag keeps transaction and account ids per format
        (account_tag, when given, names the accounts instead: objects that share accounts)."""
        import numpy as np

        rng = np.random.default_rng([self.seed, start])
        cluster = rng.integers(0, self.CLUSTERS, count)
        noise = rng.standard_normal((count, self.dim), dtype=np.float32)
        embeddings = self.centroids[cluster] + noise * np.float32(0.75 / np.sqrt(self.dim))
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        fraudy = cluster < self.FRAUD_CLUSTERS
        scores = np.where(fraudy, rng.beta(5, 2, count), rng.beta(2, 5, count)).round(4)
        account = (self.accounts * rng.random(count) ** 1.5).astype(np.int64)
        cents = np.maximum(1, rng.lognormal(np.log(4000), 1.2, count)).astype(np.int64)
        seconds = (np.arange(start, start + count) * self.seconds_per_row).astype(np.int64)
        seconds += rng.integers(0, 60, count)
        octets = rng.integers(1, 255, (count, 4))
        octets[:, 0] = rng.choice(self.FIRST_OCTETS, count)
        ipv6 = rng.random(count) < 0.05
        channel = rng.integers(0, len(self.CHANNELS), count)
        merchant = rng.integers(0, len(self.merchants), count)
        features = rng.standard_normal((count, 6)).round(4)
        hour = (seconds % 86400) / 86400 * 2 * np.pi
        rows = []
        for i in range(count):
            score = float(scores[i])
            a, b, c, d = octets[i].tolist()
            rows.append(
                {
                    "transaction_id": f"bench-{id_tag}-{start + i:09d}",
                    "account_id": f"acc-{account_tag or id_tag}-{int(account[i]):07d}",
                    "occurred_at": self.START + timedelta(seconds=int(seconds[i])),
                    "amount": Decimal(int(cents[i])).scaleb(-2),
                    "currency": "EUR",
                    "merchant": self.merchants[merchant[i]],
                    "merchant_category": "5411",
                    "channel": self.CHANNELS[channel[i]],
                    "country": "DE",
                    "source_ip": f"2a02:8100:{a:x}{b:02x}::{c:x}:{d:x}" if ipv6[i] else f"{a}.{b}.{c}.{d}",
                    "device_id": f"dev-{int(account[i]) * 3 + d % 3:08x}",
                    "similarity_score": score,
                    "model_version": "detector-2026.11.2",
                    "outcome": "block" if score >= 0.85 else "investigate" if score >= 0.6 else "approve",
                    "embedding": embeddings[i],
                    "features": {
                        "log_amount": round(float(np.log10(cents[i] / 100 + 1)), 4),
                        "hour_sin": round(float(np.sin(hour[i])), 4),
                        "hour_cos": round(float(np.cos(hour[i])), 4),
                        **dict(zip(("velocity_1h", "velocity_24h", "new_device", "geo_distance"),
                                   features[i, :4].tolist(), strict=True)),
                    },
                }
            )  # fmt: skip
        return rows


def bare_tuple(row: dict, names: list[str]) -> tuple:
    import ipaddress

    return tuple(
        ipaddress.ip_address(row[name]) if name == "source_ip" else row[name] for name in names
    )


# --- the benchmark (parent process) --------------------------------------------------------


@dataclass
class Timing:
    """Wall-clock seconds, and CPU seconds of this process plus its PostgreSQL backend.

    On a shared machine the wall clock also counts time spent waiting for a CPU; the CPU
    seconds do not, so they are the steadier measure (None when the backend is unreadable).
    """

    wall: float = 0.0
    cpu: float | None = 0.0
    db_cpu: float | None = 0.0  # of cpu, the PostgreSQL backend's share

    def __iadd__(self, other: Timing) -> Timing:
        self.wall += other.wall
        self.cpu = None if self.cpu is None or other.cpu is None else self.cpu + other.cpu
        self.db_cpu = (
            None if self.db_cpu is None or other.db_cpu is None else self.db_cpu + other.db_cpu
        )
        return self


class Stopwatch:
    """Times a block: `with stopwatch as timing:`; one block at a time."""

    def __init__(self) -> None:
        self.backend = postgres_backend_process()

    def _cpu(self) -> tuple[float, float] | None:
        """(this process's, its backend's) user + system CPU seconds."""
        if self.backend is None:
            return None
        return sum(os.times()[:2]), sum(self.backend.cpu_times()[:2])

    def __enter__(self) -> Timing:
        self.timing = Timing()
        self._started, self._cpu_started = time.perf_counter(), self._cpu()
        return self.timing

    def __exit__(self, *exc_info) -> None:
        self.timing.wall = time.perf_counter() - self._started
        cpu = self._cpu()
        if cpu is None or self._cpu_started is None:
            self.timing.cpu = self.timing.db_cpu = None
            return
        self.timing.db_cpu = cpu[1] - self._cpu_started[1]
        self.timing.cpu = cpu[0] - self._cpu_started[0] + self.timing.db_cpu


def bare_copy(cursor, stopwatch: Stopwatch, rows: list[dict]) -> Timing:
    """Timing of one binary COPY of rows (already Python tuples) into bench_bare."""
    columns = bare_columns()
    tuples = [bare_tuple(row, [name for name, _ in columns]) for row in rows]
    names = ", ".join(name for name, _ in columns)
    types = [type_name.split("(")[0] for _, type_name in columns]
    with stopwatch as timing:
        with cursor.copy(f"COPY bench_bare ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for values in tuples:
                copy.write_row(values)
    return timing


def generate_upload_and_copy(args, formats: list[str], run_tag: str) -> Timing:
    """Write every format's parts to S3; COPY each part's rows bare. Returns the COPY's timing."""
    from tqdm import tqdm

    from cases.fileformats import encode_rows
    from cases.ingest.copy import psycopg_connection
    from cases.s3 import ensure_bucket, s3_client

    s3 = s3_client()
    ensure_bucket(s3, BUCKET)
    factory = RowFactory(args.rows)
    copy_timing = Timing()
    columns = ", ".join(f"{name} {type_name}" for name, type_name in bare_columns())
    stopwatch = Stopwatch()
    with psycopg_connection().cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare")
        cursor.execute(f"CREATE TABLE bench_bare ({columns})")
        with tqdm(
            total=args.rows * len(formats), unit="row", unit_scale=True, desc="generate, upload"
        ) as bar:
            for part, start in enumerate(range(0, args.rows, args.part_rows)):
                count = min(args.part_rows, args.rows - start)
                for fmt in formats:
                    bar.set_postfix_str(f"part {part} {fmt}")
                    rows = factory.part(start, count, ID_TAGS[fmt])
                    body = encode_rows(rows, fmt)
                    key = f"{run_tag}/{fmt}/part-{part:05d}.{fmt}"
                    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
                    if fmt == formats[0]:
                        bar.set_postfix_str(f"part {part} bare COPY")
                        copy_timing += bare_copy(cursor, stopwatch, rows)
                    del rows, body
                    bar.update(count)
        copied = cursor.execute("SELECT count(*) FROM bench_bare").fetchone()[0]
        cursor.execute("DROP TABLE bench_bare")
    if copied != args.rows:
        raise RuntimeError(f"bare COPY loaded {copied} rows, expected {args.rows}")
    return copy_timing


# --- a database that already holds rows (--preload) ----------------------------------------


def preload(rows: int) -> dict:
    """Fill cases_transaction with `rows` reference rows (and one case per ten rows, nine in ten
    closed) by text COPY, fast: embeddings from a pool of pre-formatted unit vectors. Returns
    timings. The rows belong to their own accounts (acc-pre-*), so the measured ingest meets
    2M rows in every index but none of their open cases; the graph's backlog the trigger
    fills is emptied after (a settled database has indexed them), then VACUUM ANALYZE."""
    import numpy as np
    from django.db import connection

    from cases.ingest.copy import COPY_COLUMNS
    from cases.models import IngestRun

    started = time.perf_counter()
    rng = np.random.default_rng(20261206)
    accounts = max(100, rows // 10)
    run = IngestRun.objects.create(
        bucket=BUCKET, key="preload", etag="preload", triggered_by="bench preload",
        status=IngestRun.Status.SUCCEEDED, rows_read=rows, rows_loaded=rows,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cases_case (account_id, status, priority, max_similarity_score,
                worst_outcome, amount_at_risk, transaction_count, opened_at, updated_at,
                closed_at, version, resolution, closing_comment)
            SELECT 'acc-pre-' || lpad(g::text, 7, '0'),
                   CASE WHEN g %% 10 = 0 THEN 'open' ELSE 'closed' END, g %% 100, 0.5,
                   'investigate', 100, 10, now() - interval '40 days', now(),
                   CASE WHEN g %% 10 = 0 THEN NULL ELSE now() - interval '35 days' END, 1,
                   CASE WHEN g %% 10 = 0 THEN '' ELSE 'false_positive' END,
                   CASE WHEN g %% 10 = 0 THEN '' ELSE 'preloaded' END
            FROM generate_series(0, %s - 1) AS g
            """,
            [accounts],
        )
        cursor.execute("SELECT account_id, id FROM cases_case WHERE account_id LIKE 'acc-pre-%%'")
        case_ids = dict(cursor.fetchall())
    pool = rng.standard_normal((2000, 384)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    vectors = ["[" + ",".join(f"{x:.5f}" for x in vector) + "]" for vector in pool]
    names = ", ".join(name for name, _ in COPY_COLUMNS)
    account = rng.integers(0, accounts, rows).tolist()
    cents = np.maximum(1, rng.lognormal(np.log(4000), 1.2, rows)).astype(np.int64).tolist()
    scores = rng.random(rows).round(4).tolist()
    octets = rng.integers(1, 255, (rows, 4)).tolist()
    pick = rng.integers(0, len(vectors), rows).tolist()
    raw = connection.connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY cases_transaction ({names}) FROM STDIN") as copy:
            batch = []
            for i in range(rows):
                a, b, c, d = octets[i]
                acc = f"acc-pre-{account[i]:07d}"
                score = scores[i]
                outcome = "block" if score >= 0.85 else "investigate" if score >= 0.6 else "approve"
                day, second = divmod(i * 37, 86400)
                batch.append(
                    f"pre-{i:09d}\t{acc}\t2026-09-{1 + day % 28:02d} {second // 3600:02d}:"
                    f"{second // 60 % 60:02d}:{second % 60:02d}+00\t{cents[i] / 100:.2f}\tEUR\t\\N\t"
                    f"Merchant {i % 400:03d}\t5411\tecommerce\tDE\t{a}.{b}.{c}.{d}\t"
                    f"dev-{account[i]:08x}\t{score}\tdetector-2026.09.1\t{outcome}\t"
                    f'{vectors[pick[i]]}\t{{"log_amount": 1.5}}\t{case_ids[acc]}\t{run.pk}\t'
                    f"{i + 1}\t2026-09-30 00:00:00+00\n"
                )
                if len(batch) == 5000:
                    copy.write("".join(batch))
                    batch = []
            if batch:
                copy.write("".join(batch))
    copied = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE cases_embeddingbacklog")
    raw.autocommit = True
    with raw.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE cases_transaction")
        cursor.execute("VACUUM ANALYZE cases_case")
        cursor.execute("CHECKPOINT")
        count = cursor.execute("SELECT count(*) FROM cases_transaction").fetchone()[0]
    if count != rows:
        raise RuntimeError(f"preload left {count} rows in cases_transaction, expected {rows}")
    return {"rows": rows, "cases": accounts, "copy_seconds": copied,
            "seconds": time.perf_counter() - started}  # fmt: skip


# --- the reference: the same payload, binary COPY into an empty indexed table ----------------

REFERENCE_TABLE = "bench_indexed_copy"
REFERENCE_SQL = (
    f"CREATE TABLE {REFERENCE_TABLE} (LIKE cases_transaction INCLUDING ALL);"
    f"ALTER TABLE {REFERENCE_TABLE} ADD FOREIGN KEY (case_id) REFERENCES cases_case (id),"
    " ADD FOREIGN KEY (ingest_run_id) REFERENCES cases_ingestrun (id);"
    f"CREATE TRIGGER bench_queued AFTER INSERT ON {REFERENCE_TABLE} REFERENCING NEW TABLE AS"
    " new_rows FOR EACH STATEMENT EXECUTE FUNCTION cases_queue_new_embeddings()"
)


def indexed_copy(run_ids: list[int], var_dir: Path) -> tuple[Timing, int]:
    """Timing of one binary COPY, into an empty table like cases_transaction (every index, the
    unique transaction id, the checks, both foreign keys, the embeddings trigger), of exactly
    the payload the ingest wrote: its rows dumped in ingest's COPY columns (to a file, not
    memory) and loaded back in one transaction. Only the load is timed."""
    from django.db import connection

    from cases.ingest.copy import COPY_COLUMNS

    names = ", ".join(name for name, _ in COPY_COLUMNS)
    dump = var_dir / "indexed-copy.bin"
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = True
    with raw.cursor() as cursor, dump.open("wb") as out:
        with cursor.copy(
            f"COPY (SELECT {names} FROM cases_transaction WHERE ingest_run_id = ANY(%s) "
            "ORDER BY id) TO STDOUT (FORMAT BINARY)",
            [run_ids],
        ) as copy:
            for data in copy:
                out.write(data)
        cursor.execute(f"DROP TABLE IF EXISTS {REFERENCE_TABLE}")
        for statement in REFERENCE_SQL.split(";"):
            cursor.execute(statement)
        cursor.execute("CHECKPOINT")
    stopwatch = Stopwatch()
    with stopwatch as timing, raw.transaction(), raw.cursor() as cursor, dump.open("rb") as data:
        with cursor.copy(f"COPY {REFERENCE_TABLE} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            while block := data.read(1 << 20):
                copy.write(block)
    with raw.cursor() as cursor:
        copied = cursor.execute(f"SELECT count(*) FROM {REFERENCE_TABLE}").fetchone()[0]
        cursor.execute(f"DROP TABLE {REFERENCE_TABLE}")
        cursor.execute("TRUNCATE cases_embeddingbacklog")
        cursor.execute("CHECKPOINT")
    dump.unlink()
    return timing, copied


# --- scale-out: two ingesting processes at once against one ----------------------------------


def upload_scale_out(args, run_tag: str) -> dict[str, list[str]]:
    """Four Parquet objects of --scale-out-rows rows: a pair for one process, a pair for two.
    The two objects of each pair share their accounts (as two files of one detector do), so
    the two processes meet on the same cases."""
    from cases.fileformats import encode_rows
    from cases.s3 import s3_client

    s3 = s3_client()
    rows = args.scale_out_rows
    factory = RowFactory(2 * rows, seed=20261206)
    keys: dict[str, list[str]] = {}
    for phase, tag in (("one", "s1"), ("two", "s2")):
        for number in range(2):
            body = encode_rows(factory.part(number * rows, rows, tag, account_tag=tag), "parquet")
            key = f"{run_tag}/scale-{phase}/part-{number}.parquet"
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            keys.setdefault(phase, []).append(key)
            del body
    return keys


def deadlocks() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def books(reports: list[dict], expected_rows: int) -> tuple[bool, str]:
    """Rows read = loaded + duplicates + quarantined per run, every source row read once, every
    loaded row in cases_transaction once."""
    from django.db import connection

    run_ids = [pk for report in reports for pk in report["run_ids"]]
    read = sum(report["rows_read"] for report in reports)
    loaded = sum(report["rows_loaded"] for report in reports)
    other = sum(report["rows_duplicate"] + report["rows_quarantined"] for report in reports)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT transaction_id) FROM cases_transaction "
            "WHERE ingest_run_id = ANY(%s)",
            [run_ids],
        )
        stored, distinct = cursor.fetchone()
    statuses = sorted({status for report in reports for status in report["statuses"]})
    balanced = (
        read == expected_rows == loaded + other and stored == distinct == loaded
        and statuses == ["succeeded"]
    )  # fmt: skip
    return balanced, (
        f"source {expected_rows:,}, read {read:,}, loaded {loaded:,}, duplicates + quarantined "
        f"{other:,}, in cases_transaction {stored:,} ({distinct:,} distinct ids), run statuses "
        f"{', '.join(statuses)}"
    )


def scale_out(args, keys: dict[str, list[str]]) -> list[str]:
    """One process ingests a pair of objects, then two processes one object each, at once."""
    rows = 2 * args.scale_out_rows
    before = deadlocks()
    print("scale-out: one process, two objects ...", file=sys.stderr, flush=True)
    one = ingest_in_child(args, f"s3://{BUCKET}/{keys['one'][0].rsplit('/', 1)[0]}/")
    one_wall = one["ended_epoch"] - one["started_epoch"]
    print("scale-out: two processes, one object each, at once ...", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(2) as pool:
        pair = list(
            pool.map(lambda key: ingest_in_child(args, f"s3://{BUCKET}/{key}"), keys["two"])
        )
    pair_wall = max(r["ended_epoch"] for r in pair) - min(r["started_epoch"] for r in pair)
    found = deadlocks() - before
    one_ok, one_books = books([one], rows)
    pair_ok, pair_books = books(pair, rows)
    one_rate, pair_rate = (
        one["rows_loaded"] / one_wall,
        sum(r["rows_loaded"] for r in pair) / pair_wall,
    )
    ratio = pair_rate / one_rate
    cpu_one = one["cpu_seconds"]
    cpu_pair = sum(r["cpu_seconds"] or 0 for r in pair)
    return [
        f"scale-out, Parquet, two objects of {args.scale_out_rows:,} rows sharing their accounts: "
        f"one process {one_wall:.1f} s ({one_rate:,.0f} rows/s, CPU {cpu_one:.1f} s); two processes "
        f"at once {pair_wall:.1f} s ({pair_rate:,.0f} rows/s, CPU {cpu_pair:.1f} s); ratio "
        f"{ratio:.2f} (goal ≥ {SCALE_OUT_GOAL}, counting on ≥ 4 cores; this machine has "
        f"{os.cpu_count()}: {'met' if ratio >= SCALE_OUT_GOAL else 'NOT met'})",
        f"scale-out books, one process: {'balanced' if one_ok else 'NOT balanced'} ({one_books})",
        f"scale-out books, two processes: {'balanced' if pair_ok else 'NOT balanced'} ({pair_books})",
        f"scale-out deadlocks (pg_stat_database.deadlocks during both phases): {found}; "
        f"run errors: {[e for r in [one, *pair] for e in r['errors']] or 'none'}",
        f"scale-out peak RSS per process (MiB): one {one['peak_rss_kb'] / 1024:.0f}, two "
        + ", ".join(f"{r['peak_rss_kb'] / 1024:.0f}" for r in pair),
    ]  # fmt: skip


# --- the rollups' share of the ingest (--rollups-compare) ----------------------------------

TEMPLATE_DATABASE = "bench_rollups_template"
ROLLUPS_GOAL_PERCENT = 10.0  # issue 16: the rollups add at most 10 % to ingest time


def admin_conninfo() -> tuple[str, str]:
    """A connection string to the server's maintenance database, and the app database's name."""
    from django.conf import settings
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = settings.DATABASE_URL
    return make_conninfo(url, dbname="postgres"), conninfo_to_dict(url)["dbname"]


def snapshot_database() -> None:
    """Keep the app database as it is now (preloaded, nothing of the measured files ingested)
    as a template that every try of --rollups-compare starts from."""
    import psycopg
    from django.db import connections

    connections.close_all()  # CREATE DATABASE ... TEMPLATE needs the source without sessions
    admin, name = admin_conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DATABASE}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DATABASE}" TEMPLATE "{name}" STRATEGY FILE_COPY')


def restore_database() -> None:
    """Put the app database back to the snapshot (FILE_COPY: a checkpoint before and after,
    so no try flushes another's dirty pages) and empty the broker and cache (tasks the last
    try queued): each try meets the same target."""
    import psycopg
    import redis
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    admin, name = admin_conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}" STRATEGY FILE_COPY')
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("redis+socket://"):
        client = redis.Redis(unix_socket_path=broker.removeprefix("redis+socket://"))
    else:
        client = redis.Redis.from_url(broker)
    client.flushall()
    client.close()


def rollup_rows(run_ids: list[int]) -> int:
    """Batch rollup rows the runs wrote (0 with the rollups off: proof the switch took)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM analytics_batchrollup WHERE run_id = ANY(%s)", [run_ids]
        )
        return cursor.fetchone()[0]


def server_cpu_seconds() -> float | None:
    """User + system CPU seconds the whole PostgreSQL server has spent so far: the postmaster,
    its live processes (backends, WAL writer, checkpointer, autovacuum) and the ones that have
    exited (reaped by the postmaster). None when unreadable."""
    try:
        import psutil

        backend = postgres_backend_process()
        postmaster = backend.parent() if backend else None
        if postmaster is None:
            return None
        total = 0.0
        for child in postmaster.children():
            # one that exited since is counted below, as a reaped child
            with contextlib.suppress(psutil.NoSuchProcess):
                total += sum(child.cpu_times()[:2])
        times = postmaster.cpu_times()
        return total + times.user + times.system + times.children_user + times.children_system
    except Exception:  # another host, no permission: report without it
        return None


def rollups_compare(args, run_tag: str, formats: list[str]) -> list[dict]:
    """Ingest each format's files --rollups-compare times with FRAUDCASE_ANALYTICS_ROLLUPS off
    and as often on, alternating (off, on / on, off / ...), each try in a child process into
    the database restored from the snapshot. Returns one record a try."""
    tries = []
    for attempt in range(args.rollups_compare):
        order = (False, True) if attempt % 2 == 0 else (True, False)
        for fmt in formats:
            for rollups in order:
                label = f"try {attempt + 1}, {fmt}, rollups {'on' if rollups else 'off'}"
                print(f"rollups compare: {label} ...", file=sys.stderr, flush=True)
                restore_database()
                server_before = server_cpu_seconds()
                report = ingest_in_child(args, f"s3://{BUCKET}/{run_tag}/{fmt}/", rollups=rollups)
                server_after = server_cpu_seconds()
                # The whole server over the child's life (start-up included), not only the
                # ingest's backend: background writers and autovacuum count too.
                report["server_cpu_seconds"] = (
                    None if server_before is None or server_after is None
                    else server_after - server_before
                )  # fmt: skip
                if report["rows_loaded"] != args.rows or report["errors"]:
                    raise RuntimeError(
                        f"{label}: loaded {report['rows_loaded']} of {args.rows} rows: {report}"
                    )
                written = rollup_rows(report["run_ids"])
                if bool(written) != rollups:
                    raise RuntimeError(f"{label}: {written} batch rollup rows written")
                tries.append({"try": attempt + 1, "format": fmt, "rollups": rollups,
                              "rollup_rows": written, **report})  # fmt: skip
    return tries


def rollups_lines(tries: list[dict], formats: list[str]) -> list[str]:
    """The table of every try, and per format (and both together) what the rollups added:
    per try, on over off of the same try (neighbours in time), then the median of the tries
    and their range, by wall and by CPU seconds, against the goal."""
    import statistics

    def seconds(entry: dict, measure: str) -> float | None:
        if measure == "wall":
            return entry["seconds"]
        if measure == "CPU":
            return entry["cpu_seconds"]
        # the ingest's own process plus every PostgreSQL process over the try
        if entry["cpu_seconds"] is None or entry.get("server_cpu_seconds") is None:
            return None
        return entry["cpu_seconds"] - entry["db_cpu_seconds"] + entry["server_cpu_seconds"]

    def server_cell(entry: dict) -> str:
        server = entry.get("server_cpu_seconds")
        return "?" if server is None else f"{server:.1f}"

    lines = [
        "| try | format | rollups | rows | wall s | rows/s | CPU s | of which PostgreSQL | whole PostgreSQL server CPU s | batch rollup rows | load average (1 min) at its end |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for t in tries:
        cpu = (
            "? | ?"
            if t["cpu_seconds"] is None
            else f"{t['cpu_seconds']:.1f} | {t['db_cpu_seconds']:.1f}"
        )
        lines.append(
            f"| {t['try']} | {t['format']} | {'on' if t['rollups'] else 'off'} | "
            f"{t['rows_loaded']:,} | {t['seconds']:.1f} | {t['rows_loaded'] / t['seconds']:,.0f} | "
            f"{cpu} | {server_cell(t)} | {t['rollup_rows']:,} | {t['load_average_1m']:.1f} |"
        )  # fmt: skip
    lines += [
        "",
        "| format | measure | median off s | median on s | added % a try (on / off - 1) | median added % | goal ≤ 10 % |",
        "|---|---|---:|---:|---|---:|---|",
    ]  # fmt: skip
    verdicts = []
    for fmt in [*formats, "all formats"] if len(formats) > 1 else formats:
        picked = [t for t in tries if fmt == "all formats" or t["format"] == fmt]
        for measure in ("wall", "CPU", "CPU, whole server"):
            totals: dict[tuple[int, bool], float] = {}
            for t in picked:
                value = seconds(t, measure)
                if value is None:
                    break
                key = (t["try"], t["rollups"])
                totals[key] = totals.get(key, 0.0) + value
            else:
                numbers = sorted({number for number, _ in totals})
                off = [totals[number, False] for number in numbers]
                on = [totals[number, True] for number in numbers]
                added = [100 * (b / a - 1) for a, b in zip(off, on, strict=True)]
                median = statistics.median(added)
                met = median <= ROLLUPS_GOAL_PERCENT
                noisy = min(added) <= ROLLUPS_GOAL_PERCENT < max(added)
                verdict = ("met" if met else "NOT met") + (
                    " (the tries straddle 10 %)" if noisy else ""
                )
                verdicts.append((fmt, measure, median, met))
                lines.append(
                    f"| {fmt} | {measure} | {statistics.median(off):.1f} | {statistics.median(on):.1f} | "
                    f"{', '.join(f'{x:+.1f}' for x in added)} (range {max(added) - min(added):.1f} points) | "
                    f"{median:+.1f} | {verdict} |"
                )  # fmt: skip
                continue
            lines.append(f"| {fmt} | {measure} | ? | ? | ? | ? | ? (CPU unreadable) |")
    wall = [v for v in verdicts if v[1] == "wall"]
    if wall:
        lines += [
            "",
            "- rollups' share of ingest time, goal ≤ 10 % (issue 16), by the median of the tries' "
            "wall time: " + "; ".join(
                f"{fmt} {median:+.1f} % ({'met' if met else 'NOT met'})" for fmt, _, median, met in wall
            ) + "; by CPU seconds (steadier on a shared machine): " + "; ".join(
                f"{fmt} {median:+.1f} % ({'met' if met else 'NOT met'})"
                for fmt, measure, median, met in verdicts if measure == "CPU"
            ),
        ]  # fmt: skip
    return lines


def child_env(args, rollups: bool | None = None) -> dict[str, str]:
    """The ingest child's environment; rollups: FRAUDCASE_ANALYTICS_ROLLUPS (None: as set)."""
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="fraudcase.settings",
        FRAUDCASE_VAR_DIR=str(args.var_dir),
        # The servers this process started: the child reuses them and starts none.
        DATABASE_URL=settings.DATABASE_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        FRAUDCASE_S3_ENDPOINT_URL=settings.FRAUDCASE_S3_ENDPOINT_URL,
        AWS_ACCESS_KEY_ID=settings.FRAUDCASE_S3_ACCESS_KEY_ID or "",
        AWS_SECRET_ACCESS_KEY=settings.FRAUDCASE_S3_SECRET_ACCESS_KEY or "",
        FRAUDCASE_INGEST_CHUNK_ROWS=str(args.chunk_rows),
        PYTHONUNBUFFERED="1",
    )
    if rollups is not None:
        env["FRAUDCASE_ANALYTICS_ROLLUPS"] = "true" if rollups else "false"
    return env


def ingest_in_child(args, uri: str, rollups: bool | None = None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child-ingest", uri]
    if args.profile:
        command.append("--profile")
    result = subprocess.run(
        command, cwd=BASE_DIR, env=child_env(args, rollups), stdout=subprocess.PIPE, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"the ingest of {uri} failed (exit {result.returncode}); see stderr above"
        )
    report_line = next(
        line for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX)
    )
    profile_text = result.stdout.split(RESULT_PREFIX)[0].strip()
    if profile_text:
        print(f"\n### cProfile of the {uri} ingest (top by cumulative time)\n\n{profile_text}\n")
    return json.loads(report_line[len(RESULT_PREFIX) :])


def describe_commit() -> str:
    """The commit the code under test comes from, and whether the work tree differs from it."""
    if os.environ.get("FRAUDCASE_BENCH_COMMIT"):  # set by --at-head for the exported copy
        return os.environ["FRAUDCASE_BENCH_COMMIT"] + " (run from a git archive export of HEAD)"

    def git(*git_args: str) -> str:
        done = subprocess.run(["git", *git_args], cwd=BASE_DIR, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    tracked_changes = git("status", "--porcelain", "--untracked-files=no")
    new_code = git("ls-files", "--others", "--exclude-standard", "cases", "fraudcase")
    if tracked_changes or new_code:
        commit += " (plus uncommitted changes in the work tree)"
    return commit


def machine_lines(args, commit: str) -> list[str]:
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
        )
        pg_version, vector_version = cursor.fetchone()
    return [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"commit: {commit}",
        f"machine: nproc {os.cpu_count()}, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, PostgreSQL {pg_version} + pgvector {vector_version}, "
        f"{platform.system()} {platform.machine()}",
        f"command: python bench/ingest.py {os.environ.get('FRAUDCASE_BENCH_ARGS') or ' '.join(sys.argv[1:])}",
        f"settings: {args.rows} rows per format, objects of <= {args.part_rows} rows, "
        f"FRAUDCASE_INGEST_CHUNK_ROWS={args.chunk_rows}, DEBUG=false, {RowFactory(args.rows).accounts} accounts per format, "
        f"preloaded rows {args.preload:,}",
        f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs "
        "(the machine is shared with up to 8 other sessions)",
    ]  # fmt: skip


def results_table(
    rows: int, bare: Timing, references: dict[str, tuple[Timing, int]], reports: dict[str, dict]
) -> str:
    """The Markdown table; each format's ratio is its ingest's rows/s over the rows/s of the
    binary COPY of its own payload into an empty indexed copy of cases_transaction, by wall
    clock and by CPU seconds. The bare COPY (no index) is there for comparison with earlier
    runs, no goal."""

    def share(ratio: float) -> str:
        return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"

    def cells(timing: Timing, loaded: int, against: Timing | None, against_rows: int, goal):
        if against is None:
            ratio_cell = cpu_ratio = "—"
        else:
            ratio = against.wall / timing.wall * loaded / against_rows
            ratio_cell = share(ratio) + (
                f" (≥ {goal}: {'met' if ratio >= goal else 'NOT met'})" if goal else ""
            )
            cpu_ratio = (
                "?" if timing.cpu is None or against.cpu is None
                else share(against.cpu / timing.cpu * loaded / against_rows)
            )  # fmt: skip
        cpu_cells = "? | ?" if timing.cpu is None else f"{timing.cpu:.1f} | {timing.db_cpu:.1f}"
        return (
            f"{loaded:,} | {timing.wall:.1f} | {loaded / timing.wall:,.0f} | {ratio_cell} | "
            f"{cpu_cells} | {cpu_ratio}"
        )

    lines = [
        "| step | rows | seconds | rows/s | ratio to the indexed COPY (goal) | CPU s | of which PostgreSQL | ratio by CPU s | peak RSS MiB (goal < 400) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| bare binary COPY (no index; for comparison) | {cells(bare, rows, None, rows, None)} | — |",
    ]  # fmt: skip
    for fmt, report in reports.items():
        reference, copied = references[fmt]
        lines.append(
            f"| {fmt}: binary COPY of its payload into an empty indexed table | "
            f"{cells(reference, copied, None, copied, None)} | — |"
        )
        timing = Timing(report["seconds"], report["cpu_seconds"], report["db_cpu_seconds"])
        peak_mb = report["peak_rss_kb"] / 1024
        peak_cell = f"{peak_mb:.0f} ({'met' if peak_mb < PEAK_RSS_GOAL_MB else 'NOT met'})"
        lines.append(
            f"| {fmt} ingest | "
            f"{cells(timing, report['rows_loaded'], reference, copied, RATIO_GOALS.get(fmt))} | "
            f"{peak_cell} |"
        )
    return "\n".join(lines)


def run_benchmark(args) -> None:
    formats = [fmt.strip() for fmt in args.formats.split(",") if fmt.strip()]
    unknown = [fmt for fmt in formats if fmt not in ID_TAGS]
    if unknown:
        sys.exit(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(ID_TAGS)}")
    commit = describe_commit()  # now: the work tree may change during a long run
    # Wipe first: use_own_servers starts the servers in the folder.
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/ingest.py")
    use_own_servers(args.var_dir)  # DEBUG off, as a worker runs in production

    import django

    try:
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run_tag = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        preloaded = None
        if args.preload:
            print(f"preloading {args.preload:,} rows ...", file=sys.stderr, flush=True)
            preloaded = preload(args.preload)
        copy_timing = generate_upload_and_copy(args, formats, run_tag)
        scale_keys = upload_scale_out(args, run_tag) if args.scale_out_rows else None
        if args.rollups_compare:
            snapshot_database()  # before any ingest: every rollups try starts from here
        reports, references = {}, {}
        for fmt in formats:
            print(f"ingesting {fmt} ...", file=sys.stderr, flush=True)
            reports[fmt] = ingest_in_child(args, f"s3://{BUCKET}/{run_tag}/{fmt}/")
            if reports[fmt]["rows_loaded"] != args.rows:
                raise RuntimeError(
                    f"{fmt}: loaded {reports[fmt]['rows_loaded']} of {args.rows} rows: {reports[fmt]}"
                )
            print(f"binary COPY of the {fmt} payload into an empty indexed table ...",
                  file=sys.stderr, flush=True)  # fmt: skip
            references[fmt] = indexed_copy(reports[fmt]["run_ids"], args.var_dir)
        scale_lines = scale_out(args, scale_keys) if scale_keys else []
        rollups_tries, compare_clock = [], []
        if args.rollups_compare:
            compare_clock.append((datetime.now(UTC), os.getloadavg()))
            rollups_tries = rollups_compare(args, run_tag, formats)
            compare_clock.append((datetime.now(UTC), os.getloadavg()))
        print()
        print("\n".join(f"- {line}" for line in machine_lines(args, commit)))
        print()
        print(results_table(args.rows, copy_timing, references, reports))
        print()
        if preloaded:
            print(
                f"- preload: {preloaded['rows']:,} rows in {preloaded['cases']:,} cases (nine in ten "
                f"closed) by text COPY in {preloaded['copy_seconds']:.0f} s, "
                f"{preloaded['seconds']:.0f} s with VACUUM ANALYZE; cases_transaction held "
                f"{preloaded['rows']:,} rows before the first ingest"
            )  # fmt: skip
        for line in scale_lines:
            print(f"- {line}")
        for fmt, report in reports.items():
            print(
                f"- {fmt}: {report['objects']} objects; run clocks (started_at..finished_at) sum "
                f"{report['run_seconds']:.1f} s; load average at the end {report['load_average_1m']:.1f} on {os.cpu_count()} CPUs; "
                f"ingest process peak RSS after Django start-up {report['startup_rss_kb'] / 1024:.0f} MiB"
            )  # fmt: skip
        print(
            f"- benchmark process (generator, bare COPY) peak RSS: {peak_rss_kb() / 1024:.0f} MiB"
        )
        print(
            "- CPU s: user + system seconds of the loading process plus its PostgreSQL backend "
            "(not PostgreSQL's background writers); steadier than wall seconds on a busy machine"
        )
        if args.profile:
            print("- timings taken under cProfile: slower than without it")
        if rollups_tries:
            (began, load_began), (ended, load_ended) = compare_clock
            print(
                f"\n### Rollups off and on (FRAUDCASE_ANALYTICS_ROLLUPS), {args.rollups_compare} "
                f"tries each, alternating, {began:%H:%M}-{ended:%H:%M} UTC\n\n"
                f"Each try ingests the same files ({args.rows:,} rows per format) in a child "
                "process into the database restored from a snapshot taken after the preload and "
                "the upload (broker and cache emptied). Load average (1, 5, 15 min) at the start "
                f"{', '.join(f'{x:.2f}' for x in load_began)}, at the end "
                f"{', '.join(f'{x:.2f}' for x in load_ended)}.\n"
            )  # fmt: skip
            print("\n".join(rollups_lines(rollups_tries, formats)))
    finally:
        from django.db import connections

        from fraudcase import embedded

        connections.close_all()
        if not args.keep_servers:
            embedded.stop_all(args.var_dir)


# --- the ingest (child process) ------------------------------------------------------------


def peak_rss_kb() -> int:
    """This process's own peak RSS (VmHWM).

    Not ru_maxrss: Linux carries the parent's RSS at fork into the child's ru_maxrss across
    exec, so a child of a large benchmark process would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


def postgres_backend_process():
    """The server process behind Django's connection, to read its CPU time (None if unreadable)."""
    from django.db import connection

    try:
        import psutil

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            process = psutil.Process(cursor.fetchone()[0])
        process.cpu_times()
        return process
    except Exception:  # another host, no psutil, no permission: report without it
        return None


def child_ingest(uri: str, profile: bool) -> None:
    """Ingest every object under uri through the services; print timings and own peak RSS."""
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from cases.ingest import services as ingest_services
    from cases.models import IngestRun
    from cases.s3 import parse_s3_uri

    bucket, prefix = parse_s3_uri(uri)
    runs = [
        ingest_services.ingest_run_register(s3_object=s3_object, triggered_by="bench")[0]
        for s3_object in ingest_services.list_objects(bucket=bucket, prefix=prefix)
    ]
    startup_rss_kb = peak_rss_kb()
    stopwatch = Stopwatch()
    profiler = None
    if profile:
        import cProfile

        # cProfile sees one thread: read and validate in line, not a chunk ahead in a thread.
        ingest_services.in_background = lambda items, depth: items
        profiler = cProfile.Profile()
        profiler.enable()
    timing = Timing()
    started_epoch = time.time()
    for run in runs:
        with stopwatch as part:
            done = ingest_services.ingest_run_execute(run_id=run.pk)
        timing += part
        print(
            f"  {done.key}: {done.status}, {done.rows_loaded} rows in {part.wall:.1f} s",
            file=sys.stderr, flush=True,
        )  # fmt: skip
    if profiler is not None:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(40)  # where the time is spent itself
    finished = list(IngestRun.objects.filter(pk__in=[run.pk for run in runs]))
    report = {
        "objects": len(finished),
        "run_ids": [run.pk for run in finished],
        "started_epoch": started_epoch,
        "ended_epoch": time.time(),
        "rows_read": sum(run.rows_read for run in finished),
        "rows_duplicate": sum(run.rows_duplicate for run in finished),
        "errors": [run.error for run in finished if run.error],
        "seconds": timing.wall,
        "cpu_seconds": timing.cpu,
        "db_cpu_seconds": timing.db_cpu,
        "run_seconds": sum((run.finished_at - run.started_at).total_seconds() for run in finished),
        "rows_loaded": sum(run.rows_loaded for run in finished),
        "rows_quarantined": sum(run.rows_quarantined for run in finished),
        "statuses": sorted({run.status for run in finished}),
        "startup_rss_kb": startup_rss_kb,
        "load_average_1m": os.getloadavg()[0],
        "peak_rss_kb": peak_rss_kb(),
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(RESULT_PREFIX + json.dumps(report), flush=True)


def rerun_at_head(args) -> None:
    """Run this benchmark again from a `git archive HEAD` export of the repository.

    Others may edit the work tree during a long run; the export keeps one version of the code
    (and of its migrations) for the whole run. This script itself is copied in as it is.
    """
    import tempfile

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", commit], cwd=BASE_DIR, capture_output=True, check=True
    )
    argv = [arg for arg in sys.argv[1:] if arg != "--at-head"]
    with tempfile.TemporaryDirectory(prefix="fraudcase-bench-") as export:
        subprocess.run(["tar", "-x", "-C", export], input=archive.stdout, check=True)
        script = Path(export) / "bench" / "ingest.py"
        script.parent.mkdir(exist_ok=True)
        shutil.copy2(Path(__file__).resolve(), script)
        shutil.copy2(Path(__file__).resolve().with_name("vardir.py"), script.with_name("vardir.py"))
        env = dict(
            os.environ, FRAUDCASE_BENCH_COMMIT=commit, FRAUDCASE_BENCH_ARGS=" ".join(sys.argv[1:])
        )
        command = [sys.executable, str(script), *argv, "--var-dir", str(args.var_dir)]
        sys.exit(subprocess.run(command, cwd=export, env=env).returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=100_000, help="rows per format (default 100000)"
    )
    parser.add_argument(
        "--formats", default="parquet,csv.gz", help="comma-separated (default parquet,csv.gz)"
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=5000, help="FRAUDCASE_INGEST_CHUNK_ROWS for the ingest"
    )
    parser.add_argument(
        "--part-rows", type=int, default=100_000, help="rows per S3 object (default 100000)"
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=DEFAULT_VAR_DIR,
        help="embedded servers' state (wiped first)",
    )
    parser.add_argument(
        "--keep-servers", action="store_true", help="leave the embedded servers running"
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the ingests under cProfile, print the top 25"
    )
    parser.add_argument(
        "--at-head",
        action="store_true",
        help="run from a git archive export of HEAD, not the work tree",
    )
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        help="reference rows COPYed into cases_transaction before the ingests (e.g. 2000000)",
    )
    parser.add_argument(
        "--scale-out-rows",
        type=int,
        default=0,
        help="rows per object of the scale-out phase (2 objects by 1 process, 2 by 2); 0: skip",
    )
    parser.add_argument(
        "--rollups-compare",
        type=int,
        default=0,
        metavar="TRIES",
        help="then ingest each format's files TRIES times with the analytics rollups off and as "
        "often on, alternating, each into the database as it was before the first ingest; 0: skip",
    )
    parser.add_argument("--child-ingest", metavar="S3_URI", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.child_ingest:
        child_ingest(args.child_ingest, args.profile)
        return
    args.var_dir = args.var_dir.resolve()
    if args.at_head:
        rerun_at_head(args)
    sys.path.insert(0, str(BASE_DIR))
    run_benchmark(args)


if __name__ == "__main__":
    main()
