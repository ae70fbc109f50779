"""Server time and SQL queries of the analyst's pages on a big database.

    python bench/pages.py [--pages queue,case] [--transactions 1000000] [--cases 50000]

Seeds N transactions spread over M open cases (binary COPY, no embeddings) on embedded
servers under var/bench-pages (wiped at the start unless --reuse finds a seeded database),
then requests each page through Django's test client, signed in as a lead who passed the
second factor, and prints p50/p95 of the server time and the SQL query count per scenario.
One function per page (PAGES); --pages picks which run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-pages"
MARKER = ".fraudcase-bench-pages"  # only a folder carrying this is ever wiped
P95_GOAL_MS = 100
LEAD, ANALYST = "bench-lead", "bench-analyst"
QUEUES = (("High risk", 4, 10), ("Cards", 12, 20), ("Transfers", 48, 30), ("General", 24, 100))
COUNTRIES = ("DE", "FR", "NL", "GB", "ES", "IT", "PL", "US", "NG", "RO", "AE", "BR")
COUNTRY_WEIGHTS = (30, 12, 8, 10, 8, 8, 6, 6, 3, 3, 3, 3)
CHANNELS = ("card_present", "ecommerce", "transfer", "atm")
TAGS = ("mule", "card-testing", "vip", "crypto", "account-takeover")

sys.path.insert(0, str(BASE_DIR))


# --- servers and data ----------------------------------------------------------------------


@dataclass
class Seeded:
    cases: int
    transactions: int
    seconds: float
    sample_transaction_id: str
    sample_device_id: str


def seed(transactions: int, cases: int, *, transaction_extras=None) -> Seeded:
    """Users, queues, M open cases with aggregates, N transactions, tags: all by binary COPY.

    transaction_extras: (columns, values) to copy more transaction columns in the same COPY
    (another benchmark's features, ingest runs...): values(t, row) gives the t-th
    transaction's extra values from its row of the columns above."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from cases.ingest.case_opening import case_priority
    from cases.ingest.copy import psycopg_connection
    from cases.models import Case, Queue, Transaction

    started = time.perf_counter()
    users = get_user_model().objects
    lead = users.create_user(LEAD, password="bench-password-0")
    lead.groups.add(Group.objects.get(name="lead"))
    analysts = [users.create_user(f"analyst-{i:02d}", password="x" * 12) for i in range(19)]
    analysts.insert(0, users.create_user(ANALYST, password="bench-password-0"))
    Group.objects.get(name="analyst").user_set.add(*analysts)
    queues = []
    for number, (name, sla_hours, order) in enumerate(QUEUES):
        queue = Queue.objects.create(
            name=name, sla_hours=sla_hours, routing_order=order, is_default=name == "General"
        )
        # The bench analyst works two of the four queues; the others spread over all.
        members = [a for i, a in enumerate(analysts) if i % 4 == number or (i == 0 and number < 2)]
        queue.members.add(*members)
        queues.append(queue)

    rng = np.random.default_rng(20261129)
    per_case = np.maximum(1, rng.poisson(transactions / cases, cases))
    while per_case.sum() > transactions:  # trim to exactly N, never below one per case
        over = int(per_case.sum() - transactions)
        big = np.flatnonzero(per_case > 1)[:over]
        per_case[big] -= 1
    while per_case.sum() < transactions:
        short = int(transactions - per_case.sum())
        per_case[rng.integers(0, cases, short)] += 1
    now = timezone.now()
    opened_seconds = rng.integers(0, 30 * 86400, cases)
    case_queue = rng.choice(len(queues), cases, p=(0.15, 0.3, 0.15, 0.4))
    statuses = rng.choice(
        ["open", "in_review", "waiting_on_customer", "escalated"], cases, p=(0.6, 0.25, 0.08, 0.07)
    )
    assignee_index = np.where(rng.random(cases) < 0.4, rng.integers(0, len(analysts), cases), -1)

    tx_case = np.repeat(np.arange(cases), per_case)
    scores = np.where(rng.random(transactions) < 0.3, rng.beta(5, 2, transactions),
                      rng.beta(2, 5, transactions)).round(4)  # fmt: skip
    cents = np.maximum(1, rng.lognormal(np.log(4000), 1.2, transactions)).astype(np.int64)
    country = rng.choice(len(COUNTRIES), transactions, p=np.array(COUNTRY_WEIGHTS) / 100)
    channel = rng.integers(0, len(CHANNELS), transactions)
    octets = rng.integers(1, 255, (transactions, 4))
    occurred_offset = rng.integers(0, 5 * 86400, transactions)

    max_score = np.zeros(cases)
    np.maximum.at(max_score, tx_case, scores)
    outcome_rank = np.where(scores >= 0.85, 3, np.where(scores >= 0.6, 2, 1))
    worst = np.zeros(cases, dtype=np.int64)
    np.maximum.at(worst, tx_case, outcome_rank)
    amount_cents = np.zeros(cases, dtype=np.int64)
    np.add.at(amount_cents, tx_case, cents)
    outcome_names = {1: "approve", 2: "investigate", 3: "block"}

    case_rows = []
    for i in range(cases):
        opened_at = now - timedelta(seconds=int(opened_seconds[i]))
        amount = Decimal(int(amount_cents[i])).scaleb(-2)
        outcome = outcome_names[int(worst[i])]
        queue = queues[int(case_queue[i])]
        case_rows.append((
            i + 1, f"bench-acc-{i:07d}", str(statuses[i]),
            case_priority(max_similarity_score=float(max_score[i]), worst_outcome=outcome,
                          amount_at_risk=amount),
            analysts[int(assignee_index[i])].pk if assignee_index[i] >= 0 else None,
            float(max_score[i]), outcome, amount, int(per_case[i]), opened_at, opened_at,
            queue.pk, opened_at + timedelta(hours=queue.sla_hours), 1, "", "",
        ))  # fmt: skip
    case_columns = (
        ("id", "int8"), ("account_id", "text"), ("status", "text"), ("priority", "int2"),
        ("assignee_id", "int4"), ("max_similarity_score", "float8"), ("worst_outcome", "text"),
        ("amount_at_risk", "numeric"), ("transaction_count", "int4"), ("opened_at", "timestamptz"),
        ("updated_at", "timestamptz"), ("queue_id", "int8"), ("due_at", "timestamptz"),
        ("version", "int4"), ("resolution", "text"), ("closing_comment", "text"),
    )  # fmt: skip
    raw = psycopg_connection()
    with raw.cursor() as cursor:
        _copy(cursor, Case._meta.db_table, case_columns, case_rows)
        cursor.execute(f"SELECT setval('cases_case_id_seq', {cases})")
    print(f"  {cases:,} cases copied", file=sys.stderr, flush=True)

    tx_columns = (
        ("transaction_id", "text"), ("account_id", "text"), ("occurred_at", "timestamptz"),
        ("amount", "numeric"), ("currency", "text"), ("merchant", "text"),
        ("merchant_category", "text"), ("channel", "text"), ("country", "text"),
        ("source_ip", "inet"), ("device_id", "text"), ("similarity_score", "float8"),
        ("model_version", "text"), ("outcome", "text"), ("case_id", "int8"),
        ("ingested_at", "timestamptz"),
    )  # fmt: skip
    import ipaddress

    chunk = 100_000
    with raw.cursor() as cursor:
        for start in range(0, transactions, chunk):
            rows = []
            for t in range(start, min(start + chunk, transactions)):
                c = int(tx_case[t])
                a, b, d, e = octets[t].tolist()
                rows.append((
                    f"bench-tx-{t:09d}", f"bench-acc-{c:07d}",
                    now - timedelta(seconds=int(opened_seconds[c]) + int(occurred_offset[t])),
                    Decimal(int(cents[t])).scaleb(-2), "EUR", f"Merchant {int(cents[t]) % 400:03d}",
                    "5411", CHANNELS[int(channel[t])], COUNTRIES[int(country[t])],
                    ipaddress.IPv4Address(f"{a}.{b}.{d}.{e}"), f"dev-{c * 2 + t % 2:08x}",
                    float(scores[t]), "detector-2026.11.2", outcome_names[int(outcome_rank[t])],
                    c + 1, now,
                ))  # fmt: skip
                if transaction_extras:
                    rows[-1] += transaction_extras[1](t, rows[-1])
            _copy(cursor, Transaction._meta.db_table,
                  tx_columns + tuple(transaction_extras[0] if transaction_extras else ()), rows)  # fmt: skip
            print(f"  {min(start + chunk, transactions):,} transactions copied",
                  file=sys.stderr, flush=True)  # fmt: skip

    from cases.models import Tag

    tags = [Tag.objects.create(name=name) for name in TAGS]
    tagged = rng.choice(cases, cases // 10, replace=False)
    through_rows = [(int(c) + 1, tags[int(c) % len(tags)].pk) for c in tagged]
    with raw.cursor() as cursor:
        _copy(cursor, Case.tags.through._meta.db_table,
              (("case_id", "int8"), ("tag_id", "int8")), through_rows)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have by now
    return Seeded(
        cases=cases, transactions=transactions, seconds=time.perf_counter() - started,
        sample_transaction_id=f"bench-tx-{transactions // 2:09d}",
        sample_device_id=f"dev-{(int(tx_case[transactions // 3])) * 2:08x}",
    )  # fmt: skip


def _copy(cursor, table: str, columns, rows) -> None:
    names = ", ".join(name for name, _ in columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([type_name for _, type_name in columns])
        for row in rows:
            copy.write_row(row)


def existing_data() -> Seeded | None:
    from cases.models import Case, Transaction

    cases = Case.objects.count()
    if not cases:
        return None
    sample = Transaction.objects.order_by("id")[Transaction.objects.count() // 2]
    return Seeded(
        cases=cases, transactions=Transaction.objects.count(), seconds=0.0,
        sample_transaction_id=sample.transaction_id, sample_device_id=sample.device_id,
    )  # fmt: skip


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Measurement:
    page: str
    scenario: str
    url: str
    requests: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    queries: int
    sql_ms: float
    rows: int
    goal: bool
    # CPU time per request: this process (Django and the test client) and its PostgreSQL
    # backend. Unlike wall time it hardly moves when other work shares the machine.
    app_cpu_p50_ms: float = 0.0
    app_cpu_p95_ms: float = 0.0
    db_cpu_ms: float | None = None


def postgres_backend():
    """The server process behind Django's connection (None if its CPU time is unreadable)."""
    from django.db import connection

    try:
        import psutil

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            process = psutil.Process(cursor.fetchone()[0])
        process.cpu_times()
        return process
    except Exception:  # another host or no permission: report without it
        return None


def cpu_seconds(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def signed_in_client(username: str):
    """A test client signed in as username, with the second factor passed (leads need it)."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.get(username=username)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def measure(
    client, page: str, scenario: str, url: str, requests: int, goal: bool, **headers
) -> Measurement:
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm the caches (Python, templates, PostgreSQL buffers)
        client.get(url, **headers)
    backend = postgres_backend()
    db_cpu_before = cpu_seconds(backend) if backend else 0.0
    timings, app_cpu = [], []
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        app_cpu.append((time.process_time() - cpu_started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    db_cpu_ms = None
    if backend and postgres_backend() and postgres_backend().pid == backend.pid:
        db_cpu_ms = (cpu_seconds(backend) - db_cpu_before) * 1000 / requests
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    rows = len(re.findall(rb'data-case-id="', response.content))
    timings.sort()
    app_cpu.sort()
    return Measurement(
        page=page, scenario=scenario, url=url, requests=requests,
        p50_ms=statistics.median(timings), p95_ms=timings[max(0, round(0.95 * len(timings)) - 1)],
        max_ms=timings[-1], queries=len(queries),
        sql_ms=sum(float(q["time"]) for q in queries.captured_queries) * 1000, rows=rows,
        goal=goal, app_cpu_p50_ms=statistics.median(app_cpu),
        app_cpu_p95_ms=app_cpu[max(0, round(0.95 * len(app_cpu)) - 1)], db_cpu_ms=db_cpu_ms,
    )  # fmt: skip


# Partial indexes proposed for the queue (not in the migrations yet): the default and SLA
# sorts become index scans that stop after a page, the tab counts an index-only scan.
# --queue-indexes creates them in the benchmark's database to measure what they bring.
QUEUE_INDEXES = {
    "bench_case_open_priority": "(priority DESC, opened_at, id)",
    "bench_case_open_due": "(due_at, opened_at, id)",
    "bench_case_open_tabs": "(queue_id, assignee_id)",
}
UNFINISHED_SQL = "status NOT IN ('closed', 'merged')"


def apply_queue_indexes(wanted: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for name, columns in QUEUE_INDEXES.items():
            if wanted:
                cursor.execute(
                    f"CREATE INDEX IF NOT EXISTS {name} ON cases_case {columns} "
                    f"WHERE {UNFINISHED_SQL}"
                )
            else:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("VACUUM ANALYZE cases_case")


def bench_queue(args, seeded: Seeded) -> list[Measurement]:
    """The triage queue: the three scenarios with goals, then a few more for the record."""
    lead = signed_in_client(LEAD)
    analyst = signed_in_client(ANALYST)
    n = args.requests
    scenarios = [
        (lead, "default (lead: unassigned, by priority)", "/", {}),
        (lead, "filtered (all; open, score ≥ 0.8, at risk ≥ 500, unassigned)",
         "/?tab=all&status=open&score_min=0.8&amount_min=500&assignee=none", {}),
        (lead, "sorted by SLA (all)", "/?tab=all&sort=sla", {}),
        (analyst, "default (analyst: unassigned in 2 of 4 queues)", "/", {}),
        (lead, "htmx refresh of the rows (all)", "/cases/?tab=all", {"HTTP_HX_REQUEST": "true"}),
        (lead, "page 100 of all (offset 4950)", "/?tab=all&page=100", {}),
        (lead, "sorted by country (all)", "/?tab=all&sort=country", {}),
        (lead, "country filter NG (any transaction)", "/?tab=all&country=NG", {}),
        (lead, "tag filter", "/?tab=all&tag=mule", {}),
        (lead, "search: transaction id", f"/?tab=all&q={seeded.sample_transaction_id}", {}),
        (lead, "search: device id", f"/?tab=all&q={seeded.sample_device_id}", {}),
        (lead, "search: IP address", "/?tab=all&q=81.2.69.77", {}),
    ]  # fmt: skip
    results = []
    for index, (client, scenario, url, headers) in enumerate(scenarios):
        # The goal is set for the first three: default, filtered, sorted by SLA.
        result = measure(client, "queue", scenario, url, n, index < 3, **headers)
        print(f"  queue / {scenario}: p95 {result.p95_ms:.1f} ms", file=sys.stderr, flush=True)
        results.append(result)
    return results


# The seed has no features: the case page's "why was this flagged" gets them for the newest
# transactions (its population sample) and for the measured cases' own, once.
CASE_FEATURES_SQL = """
UPDATE cases_transaction SET features = jsonb_build_object(
    'amount_z', round((random() * 4 - 2)::numeric, 3),
    'hour_sin', round(sin(random() * 6.2832)::numeric, 3),
    'merchant_risk', round(random()::numeric, 3),
    'velocity_1h', floor(random() * 6)::int,
    'distance_km_log', round((random() * 3.5)::numeric, 3),
    'new_device', (random() < 0.1)::int)
WHERE features IS NULL
  AND (id > (SELECT max(id) FROM cases_transaction) - %(newest)s OR case_id = ANY(%(cases)s))
"""
EXTRA_NOTES: list[str] = []  # lines a page's benchmark adds under the table


def bench_case(args, seeded: Seeded) -> list[Measurement]:
    """The case page of a typical and of the largest case (goal), its PDF and CSV exports.

    Each measured case first gets, through the services, what an analyst adds (an assignee, a
    note, a tag, a decision and a label), so the page shows notes and a history from the trail.
    """
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection

    from cases.casefile.explain import POPULATION_SAMPLE, population_feature_stats
    from cases.models import Case
    from cases.workflow import services

    lead = get_user_model().objects.get(username=LEAD)
    typical_size = round(seeded.transactions / seeded.cases)
    typical = (
        Case.objects.filter(transaction_count=typical_size).order_by("id").first()
        or Case.objects.order_by("id").first()
    )
    largest = Case.objects.order_by("-transaction_count", "id").first()
    cases = [typical, largest]
    with connection.cursor() as cursor:
        cursor.execute(
            CASE_FEATURES_SQL, {"newest": 2 * POPULATION_SAMPLE, "cases": [c.pk for c in cases]}
        )
        cursor.execute("ANALYZE cases_transaction")
    for case in cases:
        if case.notes.exists():  # --reuse: added by an earlier run
            continue
        tx_ids = list(case.transactions.order_by("id").values_list("transaction_id", flat=True))
        services.case_assign(actor=lead, case_id=case.pk, assignee_id=lead.pk)
        services.case_add_note(
            actor=lead, case_id=case.pk,
            body="Checked the **device** history:\n\n- new device\n- [ticket](https://example.org/1)",
        )  # fmt: skip
        services.case_set_tags(actor=lead, case_id=case.pk, add=["bench"])
        services.transaction_decide(actor=lead, transaction_id=tx_ids[0], decision="block")
        services.transaction_label(actor=lead, transaction_id=tx_ids[0], label="fraud")
    cache.clear()
    started = time.perf_counter()
    population_feature_stats()
    cold_ms = (time.perf_counter() - started) * 1000

    client = signed_in_client(LEAD)
    analyst = signed_in_client(ANALYST)
    n = args.requests
    scenarios = [
        (client, f"typical case ({typical.transaction_count} transactions), lead",
         f"/cases/{typical.reference}/", True, typical),
        (client, f"largest case ({largest.transaction_count} transactions), lead",
         f"/cases/{largest.reference}/", True, largest),
        (analyst, f"typical case ({typical.transaction_count} transactions), analyst",
         f"/cases/{typical.reference}/", False, typical),
        (client, "PDF report of the largest case", f"/cases/{largest.reference}/report.pdf",
         False, largest),
        (client, "CSV export of the largest case", f"/cases/{largest.reference}/export.csv",
         False, largest),
    ]  # fmt: skip
    results, cpu = [], []
    for http_client, scenario, url, goal, case in scenarios:
        result = measure(http_client, "case", scenario, url, n, goal)
        result.rows = case.transaction_count
        print(f"  case / {scenario}: p95 {result.p95_ms:.1f} ms", file=sys.stderr, flush=True)
        results.append(result)
        # This process's CPU per request: what the page costs Python, whatever else runs.
        spent = []
        for _ in range(n):
            started = time.process_time()
            http_client.get(url)
            spent.append((time.process_time() - started) * 1000)
        spent.sort()
        cpu.append(
            f"{scenario}: p50 {statistics.median(spent):.1f}, p95 {spent[round(0.95 * n) - 1]:.1f}"
        )
    EXTRA_NOTES.append(
        "- case: CPU time of the Django process per request, ms (wall time above adds PostgreSQL "
        "and waiting for a CPU): " + "; ".join(cpu) + "."
    )
    EXTRA_NOTES.append(
        f"- case: the page reads in a fixed number of SQL queries whatever the transactions shown "
        f"({', '.join(str(r.queries) for r in results[:3])} for the three page scenarios). "
        f"Why-was-this-flagged compares with the latest {POPULATION_SAMPLE:,} transactions that "
        f"carry features (p5/median/p95 by percentile_cont), cached for ten minutes per process: "
        f"computing it cold took {cold_ms:.0f} ms (the first view in a process pays it). The "
        f"seed has no embeddings, so the similar-transactions panel takes its no-embedding path "
        f"(bench/knn.py measures the lookup)."
    )
    return results


PAGES: dict[str, Callable] = {"queue": bench_queue, "case": bench_case}


# --- report ------------------------------------------------------------------------------------


def describe_commit() -> str:
    def git(*git_args: str) -> str:
        done = subprocess.run(["git", *git_args], cwd=BASE_DIR, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no") or git(
        "ls-files", "--others", "--exclude-standard", "cases", "fraudcase", "templates"
    ):
        commit += " (plus uncommitted changes in the work tree)"
    return commit


def report(args, seeded: Seeded, results: list[Measurement], commit: str) -> str:
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        pg_version = cursor.fetchone()[0]
    lines = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- commit: {commit}",
        f"- machine: nproc {os.cpu_count()}, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, PostgreSQL {pg_version}, load average "
        f"{os.getloadavg()[0]:.1f} at the end",
        f"- command: python bench/pages.py {' '.join(sys.argv[1:])}",
        f"- data: {seeded.transactions:,} transactions in {seeded.cases:,} open cases "
        f"(no embeddings), 4 queues, 20 analysts, 10% of cases tagged"
        + (f"; seeded in {seeded.seconds:.0f} s by binary COPY" if seeded.seconds else ""),
        f"- server time = Django test client request (all middleware, DEBUG off, signed in, "
        f"second factor passed), {args.requests} requests per scenario after 3 warm-ups; "
        "CPU ms = CPU time per request of this process (Django and the test client) and of "
        "its PostgreSQL backend, which other work on the machine hardly changes; SQL ms = "
        "the queries of one request, as Django timed them",
        "- indexes: the migrations' own"
        + (
            f", plus the partial indexes proposed for the queue ({UNFINISHED_SQL}): "
            + "; ".join(f"cases_case {columns}" for columns in QUEUE_INDEXES.values())
            if args.queue_indexes
            else " only"
        ),
        "",
        "| page | scenario | rows shown | p50 ms | p95 ms (goal ≤ 100) | max ms "
        "| CPU ms: app p50 / p95, db mean | SQL queries | SQL ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        p95 = f"{result.p95_ms:.1f}"
        if result.goal:
            p95 += " (met)" if result.p95_ms <= P95_GOAL_MS else " (NOT met)"
        lines.append(
            f"| {result.page} | {result.scenario} | {result.rows} | {result.p50_ms:.1f} | {p95} "
            f"| {result.max_ms:.1f} | {result.app_cpu_p50_ms:.1f} / {result.app_cpu_p95_ms:.1f}, "
            f"{'?' if result.db_cpu_ms is None else f'{result.db_cpu_ms:.1f}'} "
            f"| {result.queries} | {result.sql_ms:.1f} |"
        )
    counts = sorted({r.queries for r in results if r.page == "queue"})
    lines.append("")
    if counts:
        lines.append(
            f"- queue: SQL queries per request {min(counts)} to {max(counts)}, never more with "
            "more rows shown (0 to 50): a filter adds the count (unfiltered, the tab's count "
            "is the total), a page where someone is assigned adds the assignees' lookup, a "
            "lead's full page the member and reason-code lists of the bulk form, which the "
            "htmx refresh leaves out. Eight are every signed-in request's own: session read "
            "and save (in its transaction), user, permissions, second factor."
        )
    lines += EXTRA_NOTES
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", default=",".join(PAGES), help=f"of {', '.join(PAGES)}")
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per scenario")
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    parser.add_argument(
        "--reuse", action="store_true", help="keep a database seeded by an earlier run"
    )
    parser.add_argument("--keep-servers", action="store_true", help="leave the servers running")
    parser.add_argument(
        "--queue-indexes",
        action="store_true",
        help="create the partial indexes proposed for the queue before measuring",
    )
    args = parser.parse_args()
    pages = [name.strip() for name in args.pages.split(",") if name.strip()]
    unknown = [name for name in pages if name not in PAGES]
    if unknown or args.requests < 50:
        sys.exit(f"unknown page(s) {unknown}" if unknown else "--requests must be ≥ 50")

    use_own_servers(args.var_dir)  # DEBUG off, as in production
    commit = describe_commit()
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/pages.py", reuse=args.reuse)

    import django

    try:
        django.setup()
        from django.core.management import call_command
        from django.test.utils import override_settings

        call_command("migrate", verbosity=0)
        seeded = existing_data() if args.reuse else None
        if seeded is None:
            print(f"seeding {args.transactions:,} transactions in {args.cases:,} cases ...",
                  file=sys.stderr, flush=True)  # fmt: skip
            seeded = seed(args.transactions, args.cases)
        apply_queue_indexes(args.queue_indexes)
        results = []
        # The manifest storage would need collectstatic; the plain one finds the same files.
        plain_static = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(STORAGES=plain_static):
            for name in pages:
                results += PAGES[name](args, seeded)
        print()
        print(report(args, seeded, results, commit))
    finally:
        from django.db import connections

        from fraudcase import embedded

        connections.close_all()
        if not args.keep_servers:
            embedded.stop_all(args.var_dir)


if __name__ == "__main__":
    main()
