"""Case sync over the API at scale (by hand, not in tests).

    python bench/api_sync.py [--cases 50000] [--pages 200] [--details 200]

Creates --cases cases (each with two transactions, a tag on one in ten, a third merged), then
measures through the whole Django stack in-process (DRF's test client, a service account's
token, no network): GET /api/v1/cases/ pages of 100 (p50/p95 server time, queries per page for
page sizes 10 and 100: a fixed number means O(1) in the page), GET /api/v1/cases/<ref>/ (p95),
and a full mirror: every case by cursor pages of 500 (rows/s). Goal: list p95 <= 100 ms.
BENCH_NO_GC=1 turns Python's cyclic collector off while measuring (see bench/RESULTS.md).
Embedded servers under var/bench-api-sync, wiped at the start.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from api_clients import percentile, service_client
from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-api-sync"
MARKER = ".fraudcase-bench-api-sync"
LIST_P95_GOAL_MS = 100


def seed(count: int) -> None:
    """count cases in batches, two transactions each; one in ten tagged, one in three merged."""
    from cases.models import Case, CaseStatus, Queue, Tag, Transaction

    queue = Queue.objects.create(name="General", is_default=True)
    tag = Tag.objects.create(name="ato")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    batch = 5000
    for first in range(0, count, batch):
        cases = Case.objects.bulk_create(
            Case(
                account_id=f"acc_{n:07d}", queue=queue, priority=n % 100,
                max_similarity_score=(n % 97) / 97, amount_at_risk=Decimal(n % 5000),
                transaction_count=2, opened_at=start + timedelta(seconds=n),
                status=CaseStatus.CLOSED if n % 3 == 0 else CaseStatus.OPEN,
            )
            for n in range(first, min(first + batch, count))
        )  # fmt: skip
        Transaction.objects.bulk_create(
            Transaction(
                transaction_id=f"tx_{case.pk}_{i}", account_id=case.account_id,
                occurred_at=case.opened_at, amount=Decimal("12.50"), currency="EUR",
                similarity_score=0.8, model_version="m1", case=case, country="DE",
            )
            for case in cases
            for i in range(2)
        )  # fmt: skip
        Case.tags.through.objects.bulk_create(
            Case.tags.through(case_id=case.pk, tag_id=tag.pk) for case in cases[::10]
        )
        print(f"  seeded {min(first + batch, count):,} cases", file=sys.stderr)
    # A third of the closed ones were merged into their neighbour: tombstones in the sync.
    merged = list(Case.objects.filter(status=CaseStatus.CLOSED).values_list("pk", flat=True)[::3])
    Case.objects.filter(pk__in=merged).update(status=CaseStatus.MERGED)
    for pk in merged:
        Case.objects.filter(pk=pk).update(merged_into_id=pk + 1)


def timed_get(client, url: str, **params):
    started = time.perf_counter()
    response = client.get(url, params)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
    return elapsed, response.json()


def queries_for_page(client, size: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        timed_get(client, "/api/v1/cases/", page_size=size)
    return len(queries)


def migrated_and_seeded(count: int) -> None:
    """Migrate the empty database, seed count cases, ANALYZE (also used by bench/api.py)."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    seed(count)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded {count:,} cases in {time.perf_counter() - started:.0f} s", flush=True)


def measure(args) -> None:
    migrated_and_seeded(args.cases)
    client = service_client("bench-sync", scope="read")
    # What seeding left in this process is not the server's: keep the collector from walking
    # it on every full collection (a served process starts with a small heap).
    gc.collect()
    gc.freeze()
    # BENCH_NO_GC=1: no cyclic collection while measuring, to tell the collector's pauses of
    # this process (its heap grows over the run) from the server's own work.
    if os.environ.get("BENCH_NO_GC"):
        gc.disable()

    small, large = queries_for_page(client, 10), queries_for_page(client, 100)
    # Pages of 100 from spread-out places in the change order (each from a fresh cursor walk).
    list_times, url, params = [], "/api/v1/cases/", {"page_size": 100}
    for _ in range(args.pages):
        elapsed, body = timed_get(client, url, **params)
        list_times.append(elapsed * 1000)
        url, params = (body["next"], {}) if body["next"] else ("/api/v1/cases/", {"page_size": 100})
    filtered = [
        timed_get(client, "/api/v1/cases/", page_size=100, status="open", tag="ato")[0] * 1000
        for _ in range(20)
    ]
    from cases.models import Case

    references = list(Case.objects.order_by("?").values_list("pk", flat=True)[: args.details])
    detail_times = [timed_get(client, f"/api/v1/cases/FC-{pk:06d}/")[0] * 1000 for pk in references]
    mirrored, started, url, params = 0, time.perf_counter(), "/api/v1/cases/", {"page_size": 500}
    while url:
        _, body = timed_get(client, url, **params)
        mirrored += len(body["results"])
        url, params = body["next"], {}
    mirror_seconds = time.perf_counter() - started

    p95 = percentile(list_times, 0.95)
    slow = sorted(range(len(list_times)), key=lambda i: -list_times[i])[:12]
    print("slowest pages:", [(i, round(list_times[i])) for i in sorted(slow)])
    print(f"cases: {args.cases:,}")
    print(f"list, pages of 100 ({args.pages}): p50 {statistics.median(list_times):.1f} ms, "
          f"p95 {p95:.1f} ms (goal <= {LIST_P95_GOAL_MS}: {'met' if p95 <= LIST_P95_GOAL_MS else 'missed'})")  # fmt: skip
    print(f"list filtered (open, tag ato): p95 {percentile(filtered, 0.95):.1f} ms")
    print(f"queries per page: {small} at 10 rows, {large} at 100 rows")
    print(f"detail ({len(detail_times)}): p50 {statistics.median(detail_times):.1f} ms, "
          f"p95 {percentile(detail_times, 0.95):.1f} ms")  # fmt: skip
    print(f"full mirror by cursor (pages of 500): {mirrored:,} cases in {mirror_seconds:.1f} s, "
          f"{mirrored / mirror_seconds:,.0f} cases/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--details", type=int, default=200)
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    args = parser.parse_args()
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/api_sync.py")
    use_own_servers(args.var_dir)  # DEBUG off, as production serves the API
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


if __name__ == "__main__":
    main()
