"""Analytics dashboards: each dashboard's server time at 1M transactions, 200k labels and 100
ingest batches, and what the ingest rollup adds to ingest.

Seeds with bench/pages.py's binary COPY (1M transactions in 50k cases), each transaction
copied with its ingest run (100 runs, one per time slice; --spread-runs: every run over every
day) and numeric features; then in SQL, triggers off: 200k labels (their label versions), 10k
closed cases with their audit events; rebuilds the rollups (analytics.rollups.rollups_rebuild)
and gives every batch rollup an embedding sum (the seed has no embeddings). Each dashboard is
then requested as a signed-in lead over its default range (the last 30 days): the first
request of the process ("cold": new connection, Django's and the page's caches empty;
PostgreSQL's buffers not dropped; beat's warm-ip-map run once before, as in production, so the
curation page finds its snapshot), then N timed requests ("warm"), with the CPU time of a warm
request (Django and its PostgreSQL backend). The operations page keeps its figures
FRAUDCASE_OPERATIONS_CACHE_SECONDS (60 s): its cold request misses (the cache was cleared), its
warm ones hit; it is measured once more with that cache off, every request computing them
("cache off": what each miss costs, once a minute per range and scope). Then the curation page
over a range a user picks, cold: the first request (in the request or left to a worker by
FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS; also with 0, always a worker), the status
endpoint, the worker's computation and the page once stored. Last, N flagged rows (RowFactory of
bench/ingest.py: embeddings, features) are ingested through the real path, rollups on and
off, alternating, --ingest-rounds times each.

    .venv/bin/python bench/analytics.py --requests 30 --ingest-rows 20000 --ingest-rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run through a wrapper too
from vardir import prepare_var_dir, use_own_servers  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-analytics"
MARKER = ".fraudcase-bench-analytics"
sys.path.insert(0, str(BASE_DIR))

DASHBOARDS = ("analytics-quality", "analytics-drift", "analytics-operations", "analytics-money",
              "analytics-labels", "analytics-curation")  # fmt: skip
# Measured again under these settings, after the rest: (url name, label, settings).
VARIANTS = (("analytics-operations", "cache off", {"FRAUDCASE_OPERATIONS_CACHE_SECONDS": 0}),)
RUNS, LABELS, CLOSED = 100, 200_000, 10_000
SEED_DAYS = 35  # bench/pages.py's transactions: cases opened over 30 days, 5 days of activity
FEATURES = ("log_amount", "hour_sin", "hour_cos", "velocity_1h", "velocity_24h", "new_device",
            "geo_distance", "ip_accounts_24h")  # fmt: skip


def seed_runs(transactions: int, *, spread: bool = False) -> tuple:
    """The 100 ingest runs (one per time slice of the seed's 35 days, each created just after
    its slice) and pages.seed's transaction_extras: each transaction's run and features, copied
    with it (an UPDATE of every row afterwards took minutes at 1M). spread: each transaction in
    a run at random instead, so every run has every day (the drift page's worst case: runs x
    days x features rollup rows)."""
    import numpy as np
    from django.db import connection
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    last = timezone.now() + timedelta(seconds=1)
    first = last - timedelta(days=SEED_DAYS, seconds=1)
    width = (last - first) / RUNS
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO cases_ingestrun (bucket, kind, key, etag, file_format, status,
            triggered_by, rows_read, rows_loaded, rows_duplicate, rows_quarantined, bytes_read,
            resume_line, cases_opened, attempts, attempts_at_rerun, error, claimed_by, created_at,
            started_at, finished_at, updated_at)
            SELECT 'bench', 'flagged', 'flagged/part-' || k || '.parquet', md5(k::text), 'parquet',
                   'succeeded', 'bench', {transactions // RUNS} + 10, {transactions // RUNS}, 5, 5,
                   0, 0, 0, 1, 0, '', '', at, at, at + interval '5 minutes', at
            FROM (SELECT k, %s::timestamptz + k * %s::interval AS at
                  FROM generate_series(1, {RUNS}) AS k) AS slices
            ORDER BY k RETURNING id""",
            [first, width],
        )
        run_ids = [row[0] for row in cursor.fetchall()]
    rng = np.random.default_rng(16)
    values = np.round(rng.random((transactions, len(FEATURES))) * 6 - 3, 3)

    def extras(t: int, row: tuple) -> tuple:
        occurred_at = row[2]
        run = t % RUNS if spread else min(RUNS - 1, max(0, int((occurred_at - first) / width)))
        return run_ids[run], Jsonb(dict(zip(FEATURES, values[t].tolist(), strict=True)))

    return (("ingest_run_id", "int8"), ("features", "jsonb")), extras


# The seed has no embeddings: every batch rollup gets an embedding sum (the drift page's).
EMBEDDING_SUMS = (
    "UPDATE analytics_batchrollup r SET embeddings = transactions, embedding_sum = "
    "(SELECT array_agg(random())::vector FROM generate_series(1, 384) WHERE r.id > 0)"
)


def seed_analytics(transactions: int, cases: int) -> dict[str, float]:
    """Labels, closes and rollups on top of bench/pages.py's seed with seed_runs' extras
    (seconds)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from analytics.rollups import rollups_rebuild

    took = {}
    analysts = list(get_user_model().objects.filter(username__startswith="analyst-").values_list("pk", flat=True))  # fmt: skip
    steps = [
        (
            # Triggers off for the bulk writes (session_replication_role): rollups_rebuild below
            # writes the label facts and the label versions per day from the tables.
            "label versions",
            f"""SET session_replication_role = replica;
            INSERT INTO cases_labelversion (transaction_id, version, label,
            reason_codes, analyst_id, analyst_pseudonym, case_id, decided_at, why, model_version,
            similarity_score, detector_outcome, neighbour_fraud_share, contradicts_model, status,
            hold_reason, review_note, source, import_note)
            SELECT t.id, 1, CASE WHEN random() < t.similarity_score THEN 'fraud' ELSE 'legitimate' END,
                   '[]', (ARRAY{analysts})[1 + (t.id % {len(analysts)})], 'an_bench', t.case_id,
                   t.occurred_at + random() * interval '5 days', 'analyst', t.model_version,
                   t.similarity_score, t.outcome,
                   CASE WHEN t.id % 3 = 0 THEN NULL ELSE random() END, false,
                   CASE WHEN t.id % 500 = 0 THEN 'held' ELSE 'pending' END,
                   CASE WHEN t.id % 500 = 0 THEN 'contradiction_burst' ELSE '' END, '', 'analyst', ''
            FROM cases_transaction t WHERE t.id % {max(1, transactions // LABELS)} = 0""",
        ),
        (
            "labels on transactions",
            """UPDATE cases_transaction t
            SET label = v.label, labelled_at = v.decided_at, labelled_by_id = v.analyst_id
            FROM cases_labelversion v WHERE v.transaction_id = t.id AND v.status = 'pending';
            SET session_replication_role = DEFAULT""",
        ),
        (
            "closed cases",
            f"""UPDATE cases_case SET status = 'closed', resolution = 'inconclusive',
            closed_at = opened_at + random() * interval '3 days' WHERE id % {max(2, cases // CLOSED)} = 0""",
        ),
        (
            "their audit events",
            f"""INSERT INTO cases_auditevent (occurred_at, actor_id, actor_name,
            action, object_type, object_id, object_repr, before, after, request_id,
            client_request_id, via_token, client_ip, previous_hash, hash)
            SELECT e.at, u.id, u.username, e.action, 'cases.case', c.id::text, '', NULL, NULL, '',
                   '', '', NULL, '', md5(c.id::text || e.action || random()::text)
            FROM cases_case c
            CROSS JOIN LATERAL (VALUES ('case_viewed', c.opened_at + (c.closed_at - c.opened_at) / 4),
                                       ('case_closed', c.closed_at)) AS e(action, at)
            JOIN auth_user u ON u.id = (ARRAY{analysts})[1 + (c.id % {len(analysts)})]
            WHERE c.status = 'closed'""",
        ),
    ]
    with connection.cursor() as cursor:
        for name, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql)
            took[name] = time.perf_counter() - started
            print(
                f"  {name}: {cursor.rowcount:,} rows, {took[name]:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    started = time.perf_counter()
    written = rollups_rebuild()
    took["rollups rebuild"] = time.perf_counter() - started
    print(
        f"  rollups rebuilt in {took['rollups rebuild']:.1f} s: {written}",
        file=sys.stderr,
        flush=True,
    )
    with connection.cursor() as cursor:
        cursor.execute(EMBEDDING_SUMS)
        cursor.execute("VACUUM ANALYZE")
    return took


def mix_currencies() -> dict[str, float]:
    """Three transactions in four in another currency than bench/pages.py's EUR (USD and GBP
    with a rate, KRW without one), so the money page converts several currencies and shows
    amounts without a rate; triggers off (the rollups are rebuilt after). The transactions'
    amount_reporting is left as it was: no dashboard reads it. Seconds taken."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """SET session_replication_role = replica;
            UPDATE cases_transaction SET currency = (ARRAY['USD', 'GBP', 'KRW'])[id % 4]
            WHERE id % 4 <> 0 AND currency = 'EUR';
            SET session_replication_role = DEFAULT;
            INSERT INTO cases_exchangerate (currency, quote_currency, rate, valid_from, source,
                                            loaded_at)
            VALUES ('USD', 'EUR', 0.92, '2020-01-01', 'bench', now()),
                   ('GBP', 'EUR', 1.17, '2020-01-01', 'bench', now())
            ON CONFLICT DO NOTHING"""
        )
    took = time.perf_counter() - started
    print(f"  currencies mixed in {took:.1f} s", file=sys.stderr, flush=True)
    return {"currencies mixed": took}


SHADOW_MODEL = "bench-shadow"


def seed_shadow_scores() -> dict[str, float]:
    """A shadow model's score for every transaction (idempotent: ON CONFLICT), so the quality
    page draws its shadow comparison over every label: the champion's score moved by up to
    ±0.15 (seeded by the id, reproducible), its outcome from the same thresholds. Seconds."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO cases_ingestrun (bucket, kind, key, etag, file_format, status,
            triggered_by, rows_read, rows_loaded, rows_duplicate, rows_quarantined, bytes_read,
            resume_line, cases_opened, attempts, attempts_at_rerun, error, claimed_by, created_at,
            started_at, finished_at, updated_at)
            VALUES ('bench', 'shadow', 'shadow/bench.parquet', 'bench-shadow', 'parquet',
                    'succeeded', 'bench', 0, 0, 0, 0, 0, 0, 0, 1, 0, '', '', now(), now(), now(),
                    now())
            ON CONFLICT DO NOTHING"""
        )
        cursor.execute("SELECT id FROM cases_ingestrun WHERE key = 'shadow/bench.parquet'")
        run_id = cursor.fetchone()[0]
        cursor.execute(
            f"""INSERT INTO cases_shadowscore (transaction_id, model_version, similarity_score,
            outcome, scored_at, ingest_run_id, source_row, ingested_at, transaction_pk)
            SELECT transaction_id, %s, s.score,
                   CASE WHEN s.score >= 0.9 THEN 'block' WHEN s.score >= 0.7 THEN 'investigate'
                        ELSE 'approve' END,
                   occurred_at, {run_id}, id, now(), id
            FROM (SELECT transaction_id, occurred_at, id,
                         least(1, greatest(0, similarity_score
                               + ((abs(hashint4(id::int4)) %% 1000) / 1000.0 - 0.5) * 0.3)) AS score
                  FROM cases_transaction) AS s
            ON CONFLICT DO NOTHING""",
            [SHADOW_MODEL],
        )
        written = cursor.rowcount
        cursor.execute("ANALYZE cases_shadowscore")
    took = time.perf_counter() - started
    print(f"  shadow scores: {written:,} rows, {took:.1f} s", file=sys.stderr, flush=True)
    return {"shadow scores": took}


def rebuild_rollups() -> dict[str, float]:
    """rollups_rebuild() on a reused seed, and the embedding sums the seed gives them."""
    from django.db import connection

    from analytics.rollups import rollups_rebuild

    started = time.perf_counter()
    written = rollups_rebuild()
    with connection.cursor() as cursor:
        cursor.execute(EMBEDDING_SUMS)
        cursor.execute("VACUUM ANALYZE")
    took = time.perf_counter() - started
    print(f"  rollups rebuilt in {took:.1f} s: {written}", file=sys.stderr, flush=True)
    return {"rollups rebuild": took}


def beat_refresh() -> float:
    """What beat does every FRAUDCASE_IP_MAP_WARM_SECONDS in production (analytics.tasks.
    warm_ip_map: the IP map's default view and the curation page's snapshot of it), once, so
    the dashboards are measured as they run; its own time is printed (work off the page)."""
    from analytics.tasks import warm_ip_map

    started = time.perf_counter()
    warm_ip_map()
    took = time.perf_counter() - started
    print(f"  beat's warm-ip-map: {took:.1f} s", file=sys.stderr, flush=True)
    return took


def measure_dashboards(requests: int) -> list[dict]:
    """Cold and warm server time of each dashboard (and of VARIANTS), and the CPU time of a
    warm request: this process's (Django) and its PostgreSQL backend's, which hardly move with
    the machine's load (the wall times do: the machine is shared)."""
    from django.test.utils import override_settings
    from django.urls import reverse
    from pages import LEAD, signed_in_client

    client = signed_in_client(LEAD)
    results = []
    for name, label, changed in [(name, "", {}) for name in DASHBOARDS] + list(VARIANTS):
        with override_settings(**changed):
            result = measure_page(client, reverse(name), requests)
        result["page"] += f" ({label})" if label else ""
        results.append(result)
        print(
            f"  {result['page']}: cold {result['cold_ms']:.0f} ms, warm p95 "
            f"{result['p95_ms']:.0f} ms, CPU a request {result['app_cpu_ms']:.0f} + "
            f"{result['db_cpu_ms'] or 0:.0f} ms",
            file=sys.stderr,
            flush=True,
        )
    return results


def measure_page(client, url: str, requests: int) -> dict:
    """One cold request (the shared cache cleared, a new database connection), then
    `requests` warm ones (the cache kept), and the statements of one more."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from pages import cpu_seconds, postgres_backend

    cache.clear()
    connection.close()  # a new backend: its catalog and plan caches empty
    started = time.perf_counter()
    response = client.get(url)
    cold = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    backend = postgres_backend()
    db_cpu_before = cpu_seconds(backend) if backend else 0.0
    timings, app_cpu = [], []
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        app_cpu.append((time.process_time() - cpu_started) * 1000)
    db_cpu = (cpu_seconds(backend) - db_cpu_before) * 1000 / requests if backend else None
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    timings.sort()
    return {
        "page": url, "cold_ms": cold, "p50_ms": statistics.median(timings),
        "p95_ms": timings[max(0, round(0.95 * len(timings)) - 1)], "queries": len(queries),
        "app_cpu_ms": statistics.mean(app_cpu), "db_cpu_ms": db_cpu,
    }  # fmt: skip


def measure_curation_custom() -> list[dict]:
    """The curation page over a range a user picks (the 14 days ending yesterday: no beat
    snapshot), cold (new connection, caches empty, no snapshot of the range): with the default
    FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS (the path production takes at this size: in the
    request, or left to a worker) and with 0 (always a worker). Where a worker computes it:
    the status endpoint's time, the computation's own time (the task's body run here, as a
    worker would) and the page cold once it is stored (one snapshot row read)."""
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import override_settings
    from django.urls import reverse
    from django.utils import timezone
    from pages import LEAD, signed_in_client

    from analytics.common.ranges import DayRange
    from analytics.curation.services import curation_computation_run
    from analytics.models import CurationKind, CurationSnapshot

    client = signed_in_client(LEAD)
    yesterday = timezone.localdate() - timedelta(days=1)
    day_range = DayRange.last(14, until=yesterday)
    query = f"?since={day_range.since}&until={day_range.until}"
    page, status = (
        reverse("analytics-curation") + query,
        reverse("analytics-curation-status") + query,
    )

    def cold(url: str) -> float:
        cache.clear()
        connection.close()  # a new backend: its catalog and plan caches empty
        started = time.perf_counter()
        response = client.get(url)
        took = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        return took

    results = []
    default = settings.FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS
    for threshold in (default, 0):
        with override_settings(FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS=threshold):
            CurationSnapshot.objects.filter(kind=CurationKind.CUSTOM).delete()
            first = cold(page)
            row = CurationSnapshot.objects.filter(since=day_range.since, until=day_range.until)
            result = {"threshold": threshold, "range": f"{day_range.since} to {day_range.until}",
                      "first_ms": first, "path": "worker" if row.exists() else "in the request"}  # fmt: skip
            if row.exists():
                result["status_ms"] = cold(status)
                started = time.perf_counter()
                curation_computation_run(day_range)
                result["computation_s"] = time.perf_counter() - started
                result["stored_ms"] = cold(page)
        results.append(result)
        print(f"  curation, custom range: {result}", file=sys.stderr, flush=True)
    CurationSnapshot.objects.filter(kind=CurationKind.CUSTOM).delete()
    return results


def measure_ingest(rows: int, rounds: int) -> list[tuple[str, float]]:
    """Ingest `rows` new flagged rows per try through the real path, rollups off and on."""
    from django.conf import settings
    from django.test.utils import override_settings
    from ingest import RowFactory

    from cases.fileformats import encode_rows
    from cases.ingest import services as ingest_services
    from cases.models import IngestRun
    from cases.s3 import ensure_bucket, s3_client

    factory = RowFactory(total_rows=rows)
    # Keys and transaction ids of this run's own ("s" + time: after every earlier run's keys,
    # "r0off" of old runs too, as the inbox scan lists after the last key it saw; a counter
    # keeps them in order: "r1on" before "r1off"), so a
    # --reuse run ingests new rows again.
    stamp = time.strftime("%Y%m%d%H%M%S")
    client = s3_client()
    bucket = settings.FRAUDCASE_INBOX_BUCKET
    ensure_bucket(client, bucket)
    timings = []
    for attempt in range(rounds):
        for rollups in (False, True) if attempt % 2 == 0 else (True, False):
            tag = f"s{stamp}-{len(timings):02d}r{attempt}{'on' if rollups else 'off'}"
            key = f"flagged/bench-{tag}.parquet"
            client.put_object(
                Bucket=bucket, Key=key, Body=encode_rows(factory.part(0, rows, tag), "parquet")
            )
            # This file's run, registered by a scan of its own key: a reused seed's inbox
            # cursor or an older unfinished run (an earlier run that stopped between
            # registering and ingesting its file, whose object the restarted S3 server no
            # longer has) must not change which run is timed.
            ingest_services.inbox_scan(bucket=bucket, prefix=key)
            run_id = IngestRun.objects.filter(bucket=bucket, key=key).latest("pk").pk
            with override_settings(
                FRAUDCASE_ANALYTICS_ROLLUPS=rollups, FRAUDCASE_INGEST_CHUNK_ROWS=5000
            ):
                started = time.perf_counter()
                run = ingest_services.ingest_run_execute(run_id=run_id)
                timings.append(("on" if rollups else "off", time.perf_counter() - started))
            print(
                f"  ingest {tag}: {run.rows_loaded} rows in {timings[-1][1]:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--ingest-rows", type=int, default=20_000)
    parser.add_argument("--ingest-rounds", type=int, default=2)
    parser.add_argument("--spread-runs", action="store_true",
                        help="every run over every day (the drift page's worst case)")  # fmt: skip
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    parser.add_argument("--reuse", action="store_true", help="keep a database seeded earlier")
    parser.add_argument("--mixed-currencies", action="store_true",
                        help="3 in 4 transactions in USD, GBP (rates) or KRW (none); with "
                             "--reuse: done to the reused seed, rollups rebuilt")  # fmt: skip
    parser.add_argument("--shadow-scores", action="store_true",
                        help=f"give every transaction a score from a shadow model ({SHADOW_MODEL}): "
                        "the quality page then draws its shadow comparison")  # fmt: skip
    parser.add_argument("--rebuild-rollups", action="store_true",
                        help="with --reuse: rebuild the rollups (after the rollup code changed)")  # fmt: skip
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=BASE_DIR).stdout.strip()  # fmt: skip
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/analytics.py", reuse=args.reuse)
    use_own_servers(args.var_dir)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    from fraudcase import embedded

    try:
        call_command("migrate", verbosity=0)
        from pages import existing_data, seed

        took = {}
        if not (args.reuse and existing_data()):
            started = time.perf_counter()
            seed(
                args.transactions,
                args.cases,
                transaction_extras=seed_runs(args.transactions, spread=args.spread_runs),
            )
            took["pages seed with runs and features"] = time.perf_counter() - started
            if args.mixed_currencies:
                took.update(mix_currencies())
            took.update(seed_analytics(args.transactions, args.cases))
        elif args.mixed_currencies:
            took.update(mix_currencies())
            took.update(rebuild_rollups())
        elif args.rebuild_rollups:
            took.update(rebuild_rollups())
        if args.shadow_scores:
            took.update(seed_shadow_scores())
        took["beat's warm-ip-map (IP map and curation snapshot)"] = beat_refresh()
        plain_static = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(STORAGES=plain_static):
            pages = measure_dashboards(args.requests)
            custom = measure_curation_custom()
        ingest = measure_ingest(args.ingest_rows, args.ingest_rounds)
        print(f"\ncommit {commit}; load average {os.getloadavg()}; seeding {took}\n")
        print("| dashboard | cold ms | warm p50 ms | warm p95 ms | CPU ms: Django + PostgreSQL | SQL queries |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|")
        for r in pages:
            db_cpu = "?" if r["db_cpu_ms"] is None else f"{r['db_cpu_ms']:.0f}"
            print(
                f"| {r['page']} | {r['cold_ms']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} "
                f"| {r['app_cpu_ms']:.0f} + {db_cpu} | {r['queries']} |"
            )
        print("\n| curation, custom range (cold) | inline threshold | path | first request ms "
              "| status endpoint ms | computation s (worker) | page once stored ms |")  # fmt: skip
        print("|---|---:|---|---:|---:|---:|---:|")
        for r in custom:
            worker = [f"{r[key]:.0f}" if key in r else "-" for key in ("status_ms",)]
            worker += [f"{r['computation_s']:.1f}" if "computation_s" in r else "-"]
            worker += [f"{r['stored_ms']:.0f}" if "stored_ms" in r else "-"]
            print(f"| {r['range']} | {r['threshold']} | {r['path']} | {r['first_ms']:.0f} | "
                  + " | ".join(worker) + " |")  # fmt: skip
        off = [s for kind, s in ingest if kind == "off"]
        on = [s for kind, s in ingest if kind == "on"]
        print(f"\ningest of {args.ingest_rows} rows: rollups off {off} s, on {on} s; "
              f"added {100 * (sum(on) / sum(off) - 1):.1f} %")  # fmt: skip
    finally:
        from django.db import connections

        connections.close_all()
        embedded.stop_all(args.var_dir)


if __name__ == "__main__":
    main()
