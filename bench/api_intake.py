"""Real-time intake over the API beside the S3 path, in one run (by hand, not in tests).

    python bench/api_intake.py [--singles 200] [--batches 5] [--batch-rows 1000]

POSTs --singles single flagged transactions to /api/v1/flags/ (server time per request: the
whole Django stack in-process through DRF's test client, no network), then --batches batches
of --batch-rows rows, then ingests the same number of rows (new ids) from one JSON Lines and
one Parquet object on the embedded S3 through the S3 path (ingest_run_execute). Rows come from
bench/ingest.py's generator (384-dim embeddings). Goals: single-flag p95 <= 50 ms, a 1,000-row
batch >= 5,000 rows/s. Embedded servers under var/bench-api-intake, wiped at the start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from api_clients import percentile, service_client
from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-api-intake"
MARKER = ".fraudcase-bench-api-intake"
BUCKET = "fraudcase-bench-api"
SINGLE_P95_GOAL_MS = 50
BATCH_ROWS_PER_SECOND_GOAL = 5000


def json_lines(rows: list[dict]) -> list[bytes]:
    from cases.fileformats import encode_rows

    return [line for line in encode_rows(rows, "jsonl").splitlines() if line.strip()]


def post(client, body: bytes) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.generic("POST", "/api/v1/flags/", body, content_type="application/json")
    elapsed = time.perf_counter() - started
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{response.status_code}: {response.content[:500]!r}")
    return elapsed, response.json()


def run(args) -> None:
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/api_intake.py")
    use_own_servers(args.var_dir)  # DEBUG off, as production serves the API
    # The throttles would refuse a benchmark's pace: it measures the work, not the limits.
    os.environ["FRAUDCASE_API_RATE_PER_TOKEN"] = "10000000/minute"
    os.environ["FRAUDCASE_API_RATE_PER_IP"] = "10000000/minute"
    import django

    django.setup()
    try:
        measure(args)
    finally:
        from django.db import connections

        from fraudcase import embedded

        connections.close_all()
        embedded.stop_all(args.var_dir)


def measure(args) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from ingest import RowFactory

    from cases.fileformats import encode_rows
    from cases.ingest import services as ingest_services
    from cases.models import IngestRun, Queue
    from cases.s3 import ensure_bucket, s3_client

    Queue.objects.create(name="General", is_default=True)
    client = service_client("bench-intake", scope="write")
    batch_total = args.batches * args.batch_rows
    factory = RowFactory(total_rows=args.singles + 20 + 3 * batch_total)

    warm = json_lines(factory.part(0, 20, "warm"))
    for line in warm:
        post(client, line)
    singles = json_lines(factory.part(20, args.singles, "one"))
    single_ms, opened = [], 0
    for line in singles:
        seconds, body = post(client, line)
        single_ms.append(seconds * 1000)
        opened += body["totals"]["cases_opened"]
        assert body["rows"][0]["outcome"] == "loaded", body["rows"][0]

    batch_seconds, cpu_seconds = [], []
    for number in range(args.batches):
        rows = factory.part(args.singles + 20 + number * args.batch_rows, args.batch_rows, "api")
        body = b"[" + b",".join(json_lines(rows)) + b"]"
        cpu = time.process_time()
        seconds, result = post(client, body)
        cpu_seconds.append(time.process_time() - cpu)
        batch_seconds.append(seconds)
        assert result["totals"]["rows_loaded"] == args.batch_rows, result["totals"]

    s3 = s3_client()
    ensure_bucket(s3, BUCKET)
    s3_results = {}
    for index, fmt in enumerate(("jsonl", "parquet")):
        start = args.singles + 20 + (index + 1) * batch_total
        rows = factory.part(start, batch_total, f"s3{fmt[:2]}")
        s3.put_object(Bucket=BUCKET, Key=f"flagged/{fmt}/all.{fmt}", Body=encode_rows(rows, fmt))
        [run_id] = ingest_services.inbox_scan(bucket=BUCKET, prefix=f"flagged/{fmt}/")
        started = time.perf_counter()
        done = ingest_services.ingest_run_execute(run_id=run_id)
        s3_results[fmt] = (time.perf_counter() - started, done)
        assert done.rows_loaded == batch_total, (done.status, done.error)

    p50, p95 = percentile(single_ms, 0.5), percentile(single_ms, 0.95)
    rates = [args.batch_rows / seconds for seconds in batch_seconds]
    print(f"- {args.singles} single POSTs (after 20 warm-up): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"max {max(single_ms):.1f} ms; goal p95 <= {SINGLE_P95_GOAL_MS} ms: "
          f"{'met' if p95 <= SINGLE_P95_GOAL_MS else 'NOT met'}")  # fmt: skip
    print(f"- {args.batches} batches of {args.batch_rows} rows: "
          f"{', '.join(f'{rate:,.0f}' for rate in rates)} rows/s "
          f"(median {statistics.median(rates):,.0f}; median {statistics.median(batch_seconds) * 1000:.0f} ms "
          f"per batch, of it {statistics.median(cpu_seconds) * 1000:.0f} ms CPU in the web process); "
          f"goal >= {BATCH_ROWS_PER_SECOND_GOAL:,} rows/s: "
          f"{'met' if statistics.median(rates) >= BATCH_ROWS_PER_SECOND_GOAL else 'NOT met'}")  # fmt: skip
    for fmt, (seconds, _done) in s3_results.items():
        print(f"- S3 path, one {fmt} object of {batch_total} rows (ingest_run_execute, chunks of "
              f"{os.environ.get('FRAUDCASE_INGEST_CHUNK_ROWS', '5000')}): {seconds:.2f} s, "
              f"{batch_total / seconds:,.0f} rows/s")  # fmt: skip
    api_runs = IngestRun.objects.filter(bucket="api")
    print(f"- API runs: {api_runs.count()}, cases opened by single POSTs: {opened}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    args = parser.parse_args()
    args.var_dir = args.var_dir.resolve()
    sys.path.insert(0, str(BASE_DIR))
    run(args)


if __name__ == "__main__":
    main()
