"""IP enrichment rate, the IP map page's server time and the fraud rings computation.

    python bench/ips.py [--transactions 1000000] [--ips 200000] [--accounts 100000]

Seeds N transactions (binary COPY, no embeddings) over M accounts, one case each, with D
distinct source IPs (each account its own two, a few carrier-NAT hubs shared by thousands,
2% private addresses) and rings of 2-8 accounts sharing a device and an IP, on embedded
servers under var/bench-ips (wiped at the start unless --reuse finds a seeded database). Then:

1. enrichment: `ips_enrich` (cases.ips.places) on K public IPs not cached yet, again
   on the same K (cached), and `ip_places` on them (the selector the map calls), in IPs/s;
2. the IP map page (`/analytics/ip-map/`) through Django's test client, signed in, DEBUG off:
   p50/p95 of the server time over the whole range (all D IPs) and with filters; goal p95
   <= 300 ms;
3. the rings computation (`rings_compute`) over all N transactions, and the case page's link
   panel for a ring member and for an account behind a hub.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-ips"
MARKER = ".fraudcase-bench-ips"  # only a folder carrying this is ever wiped
MAP_P95_GOAL_MS = 300
ANALYST = "bench-analyst"
HUB_IPS = 10
DAYS = 30
COUNTRIES = ("DE", "FR", "NL", "GB", "ES", "IT", "PL", "US", "NG", "RO", "AE", "BR")
COUNTRY_WEIGHTS = (30, 12, 8, 10, 8, 8, 6, 6, 3, 3, 3, 3)
# First octets of public IPv4 space (no 0, 10, 100, 127, 169, 172, 192, 198, 203, 224+).
PUBLIC_FIRST_OCTETS = [o for o in range(1, 224) if o not in {10, 100, 127, 169, 172, 192, 198, 203}]

sys.path.insert(0, str(BASE_DIR))


@dataclass
class Seeded:
    transactions: int
    accounts: int
    distinct_ips: int
    public_ips: list[str]
    ring_account: str
    hub_account: str
    seconds: float


def seed(transactions: int, accounts: int, ips: int) -> Seeded:
    import ipaddress

    import numpy as np
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from bench.pages import _copy
    from cases.ingest.copy import psycopg_connection
    from cases.models import Case, Transaction

    started = time.perf_counter()
    user = get_user_model().objects.create_user(ANALYST, password="bench-password-0")
    user.groups.add(Group.objects.get(name="analyst"))
    rng = np.random.default_rng(20261129)

    # The IP pool: each account owns two; 2% private; HUB_IPS more are carrier NATs.
    private_count = ips // 50
    public_count = ips - private_count
    public: set[int] = set()
    while len(public) < public_count + HUB_IPS:
        first = rng.choice(PUBLIC_FIRST_OCTETS, public_count)
        rest = rng.integers(0, 2**24, public_count)
        public.update((first.astype(np.int64) << 24 | rest).tolist())
    public_ints = sorted(public)[: public_count + HUB_IPS]
    rng.shuffle(public_ints)
    hub_ips = [ipaddress.IPv4Address(i) for i in public_ints[:HUB_IPS]]
    pool = [ipaddress.IPv4Address(i) for i in public_ints[HUB_IPS:]]
    pool += [ipaddress.IPv4Address(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
             for i in range(private_count)]  # fmt: skip
    order = rng.permutation(len(pool))
    pool = [pool[i] for i in order]

    # Rings: 5% of accounts in groups of 2-8 that share a device and the first one's IP.
    ring_of = np.full(accounts, -1)
    in_rings = rng.choice(accounts, accounts // 20, replace=False)
    position, ring = 0, 0
    while position < len(in_rings):
        size = int(rng.integers(2, 9))
        ring_of[in_rings[position : position + size]] = ring
        position, ring = position + size, ring + 1
    ring_first = {}
    for account in in_rings:
        ring_first.setdefault(int(ring_of[account]), int(account))

    per_account = np.maximum(1, rng.poisson(transactions / accounts, accounts))
    while per_account.sum() > transactions:
        over = int(per_account.sum() - transactions)
        per_account[np.flatnonzero(per_account > 1)[:over]] -= 1
    while per_account.sum() < transactions:
        per_account[rng.integers(0, accounts, int(transactions - per_account.sum()))] += 1
    tx_account = np.repeat(np.arange(accounts), per_account)
    n = transactions
    choice = rng.random(n)
    scores = np.where(rng.random(n) < 0.3, rng.beta(5, 2, n), rng.beta(2, 5, n)).round(4)
    outcome_rank = np.where(scores >= 0.85, 2, np.where(scores >= 0.6, 1, 0))
    outcomes = ("approve", "investigate", "block")
    country = rng.choice(len(COUNTRIES), n, p=np.array(COUNTRY_WEIGHTS) / 100)
    labelled = rng.random(n) < 0.05
    ring_tx = ring_of[tx_account] >= 0
    fraud = labelled & (rng.random(n) < np.where(ring_tx, 0.6, 0.1))
    hub_choice = rng.integers(0, HUB_IPS, n)
    own_choice = rng.integers(0, 2, n)
    seconds_ago = rng.integers(0, DAYS * 86400 - 3600, n)
    now = timezone.now()

    case_status = np.where(rng.random(accounts) < 0.9, "open", "closed")
    case_rows = [
        (i + 1, f"bench-acc-{i:07d}", str(case_status[i]), 50, 0.5, "investigate",
         Decimal("100.00"), int(per_account[i]), now, now, 1, "", "")
        for i in range(accounts)
    ]  # fmt: skip
    case_columns = (
        ("id", "int8"), ("account_id", "text"), ("status", "text"), ("priority", "int2"),
        ("max_similarity_score", "float8"), ("worst_outcome", "text"),
        ("amount_at_risk", "numeric"), ("transaction_count", "int4"), ("opened_at", "timestamptz"),
        ("updated_at", "timestamptz"), ("version", "int4"), ("resolution", "text"),
        ("closing_comment", "text"),
    )  # fmt: skip
    raw = psycopg_connection()
    with raw.cursor() as cursor:
        _copy(cursor, Case._meta.db_table, case_columns, case_rows)
        cursor.execute(f"SELECT setval('cases_case_id_seq', {accounts})")

    tx_columns = (
        ("transaction_id", "text"), ("account_id", "text"), ("occurred_at", "timestamptz"),
        ("amount", "numeric"), ("currency", "text"), ("merchant", "text"),
        ("merchant_category", "text"), ("channel", "text"), ("country", "text"), ("source_ip", "inet"),
        ("device_id", "text"), ("similarity_score", "float8"), ("model_version", "text"),
        ("outcome", "text"), ("case_id", "int8"), ("ingested_at", "timestamptz"),
        ("label", "text"),
    )  # fmt: skip
    chunk = 100_000
    with raw.cursor() as cursor:
        for start in range(0, n, chunk):
            rows = []
            for t in range(start, min(start + chunk, n)):
                account = int(tx_account[t])
                ring_number = int(ring_of[account])
                device = f"dev-{account:07d}"
                if choice[t] < 0.05:
                    ip = hub_ips[hub_choice[t]]
                elif ring_number >= 0 and choice[t] < 0.2:
                    ip, device = pool[2 * ring_first[ring_number]], f"ring-dev-{ring_number:06d}"
                else:
                    ip = pool[(2 * account + int(own_choice[t])) % len(pool)]
                rows.append((
                    f"bench-tx-{t:09d}", f"bench-acc-{account:07d}",
                    now - timedelta(seconds=int(seconds_ago[t])), Decimal("42.00"), "EUR",
                    f"Merchant {t % 400:03d}", "5411", "ecommerce",
                    COUNTRIES[int(country[t])], ip, device, float(scores[t]), "detector-2026.11.2",
                    outcomes[int(outcome_rank[t])], account + 1, now,
                    ("fraud" if fraud[t] else "legitimate") if labelled[t] else "",
                ))  # fmt: skip
            _copy(cursor, Transaction._meta.db_table, tx_columns, rows)
            print(f"  {min(start + chunk, n):,} transactions copied", file=sys.stderr, flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT count(DISTINCT source_ip) FROM cases_transaction")
        distinct_ips = cursor.fetchone()[0]
    return Seeded(
        transactions=n, accounts=accounts, distinct_ips=distinct_ips,
        public_ips=[str(ip) for ip in pool if not ip.is_private],
        ring_account=f"bench-acc-{int(in_rings[0]):07d}",
        hub_account=f"bench-acc-{int(np.flatnonzero(ring_of < 0)[0]):07d}",
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def existing_data() -> Seeded | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT account_id), count(DISTINCT source_ip) "
                       "FROM cases_transaction")  # fmt: skip
        transactions, accounts, distinct_ips = cursor.fetchone()
        if not transactions:
            return None
        cursor.execute("SELECT DISTINCT host(source_ip) FROM cases_transaction "
                       "WHERE NOT source_ip << '10.0.0.0/8'")  # fmt: skip
        public = sorted(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT account_id FROM cases_transaction WHERE device_id LIKE 'ring-dev-%' "
                       "ORDER BY id LIMIT 1")  # fmt: skip
        ring_account = cursor.fetchone()[0]
    return Seeded(transactions=transactions, accounts=accounts, distinct_ips=distinct_ips,
                  public_ips=public, ring_account=ring_account,
                  hub_account="bench-acc-0000000", seconds=0.0)  # fmt: skip


# Proposed, not in the migrations: lets the map's aggregation read a narrow index instead of
# the table, whose rows carry a 384-dim embedding in production. --covering-index measures it.
COVERING_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS bench_transaction_map_covering ON cases_transaction "
    "(occurred_at) INCLUDE (source_ip, label, similarity_score, outcome, country)"
)


def apply_covering_index(wanted: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if wanted:
            cursor.execute(COVERING_INDEX_SQL)
        else:
            cursor.execute("DROP INDEX IF EXISTS bench_transaction_map_covering")
        cursor.execute("VACUUM ANALYZE cases_transaction")


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Timing:
    scenario: str
    p50_ms: float
    p95_ms: float
    max_ms: float
    queries: int = 0
    detail: str = ""


def time_requests(client, scenario: str, url: str, requests: int, **headers) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm-up: the first one enriches the IPs shown
        client.get(url, **headers)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    import re

    points = re.search(rb'data-points="(\d+)"', response.content)
    timings.sort()
    return Timing(
        scenario=scenario, p50_ms=statistics.median(timings),
        p95_ms=timings[max(0, round(0.95 * len(timings)) - 1)], max_ms=timings[-1],
        queries=len(queries), detail=f"{int(points.group(1)):,} points" if points else "",
    )  # fmt: skip


def bench_enrichment(seeded: Seeded, count: int) -> list[str]:
    from cases.ips.places import ips_enrich
    from cases.ips.selectors.ip import ip_places
    from cases.models import IpEnrichment

    sample = seeded.public_ips[:count]
    IpEnrichment.objects.filter(ip__in=sample).delete()
    lines = []
    for label, run in (
        ("uncached (ips_enrich: GeoIP lookup + upsert)", lambda: ips_enrich(sample)),
        ("cached (ips_enrich: cache check only)", lambda: ips_enrich(sample)),
        ("cached (ip_places: the map's selector)", lambda: ip_places(sample)),
    ):
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        lines.append(
            f"| {label} | {len(sample):,} | {seconds:.2f} | {len(sample) / seconds:,.0f} |"
        )
        print(
            f"  enrichment {label}: {len(sample) / seconds:,.0f} IPs/s", file=sys.stderr, flush=True
        )
    return lines


def bench_map(args, seeded: Seeded) -> list[Timing]:
    from django.test.utils import override_settings
    from django.utils import timezone

    from bench.pages import signed_in_client

    client = signed_in_client(ANALYST)
    today = timezone.localdate()
    whole = f"since={today - timedelta(days=DAYS)}&until={today}"
    week = f"since={today - timedelta(days=6)}&until={today}"
    scenarios = [
        ("whole range (30 days, all IPs)", f"/analytics/ip-map/?{whole}"),
        ("default (last 30 days, no filters)", "/analytics/ip-map/"),
        ("last 7 days", f"/analytics/ip-map/?{week}"),
        ("score ≥ 0.8", f"/analytics/ip-map/?{whole}&score_min=0.8"),
        ("country DE", f"/analytics/ip-map/?{whole}&country=DE"),
        ("outcome block", f"/analytics/ip-map/?{whole}&outcome=block"),
    ]
    results = []
    for scenario, url in scenarios:
        # Uncached: every request aggregates (what the first analyst to ask waits for).
        with override_settings(FRAUDCASE_IP_MAP_CACHE_SECONDS=0):
            result = time_requests(client, f"{scenario}, uncached", url, args.uncached_requests)
        print(
            f"  map / {scenario} uncached: p95 {result.p95_ms:.1f} ms", file=sys.stderr, flush=True
        )
        results.append(result)
        # Cached (FRAUDCASE_IP_MAP_CACHE_SECONDS): the same range and filters again.
        result = time_requests(client, f"{scenario}, cached", url, args.requests)
        print(f"  map / {scenario} cached: p95 {result.p95_ms:.1f} ms", file=sys.stderr, flush=True)
        results.append(result)
    return results


def bench_rings_and_links(args, seeded: Seeded) -> tuple[list[str], list[Timing]]:
    from bench.pages import signed_in_client
    from cases.ips.services import rings_compute
    from cases.models import Case

    lines = []
    for run in range(2):
        started = time.perf_counter()
        snapshot = rings_compute(requested_by_name="bench")
        seconds = time.perf_counter() - started
        lines.append(
            f"| run {run + 1} | {seconds:.1f} | {snapshot.ring_count:,} | {snapshot.linked_accounts:,} "
            f"| {snapshot.hub_ips} / {snapshot.hub_devices} |"
        )
        print(f"  rings run {run + 1}: {seconds:.1f} s", file=sys.stderr, flush=True)
    client = signed_in_client(ANALYST)
    timings = []
    for scenario, account in (
        ("links panel, ring member", seeded.ring_account),
        ("links panel, account behind a NAT hub", seeded.hub_account),
    ):
        case = Case.objects.filter(account_id=account).first()
        timings.append(time_requests(client, scenario, f"/cases/{case.reference}/links/",
                                     args.requests, HTTP_HX_REQUEST="true"))  # fmt: skip
    return lines, timings


def report(args, seeded, enrichment, map_timings, ring_lines, link_timings, commit) -> str:
    import psutil
    from django.conf import settings
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
        f"- command: python bench/ips.py {' '.join(sys.argv[1:])}",
        f"- data: {seeded.transactions:,} transactions of {seeded.accounts:,} accounts (one case "
        f"each, 90% open) over {DAYS} days, {seeded.distinct_ips:,} distinct source IPs "
        f"({HUB_IPS} carrier-NAT hubs, 2% private), 5% of accounts in rings of 2-8, 5% labelled"
        + (f"; seeded in {seeded.seconds:.0f} s by binary COPY" if seeded.seconds else ""),
        f"- settings: FRAUDCASE_IP_MAP_MAX_POINTS={settings.FRAUDCASE_IP_MAP_MAX_POINTS}, "
        f"FRAUDCASE_LINK_HUB_DEGREE={settings.FRAUDCASE_LINK_HUB_DEGREE}, "
        f"FRAUDCASE_LINK_GRAPH_MAX_NODES={settings.FRAUDCASE_LINK_GRAPH_MAX_NODES}",
        "- indexes: the migrations' own"
        + (f", plus `{COVERING_INDEX_SQL}`" if args.covering_index else " only"),
        "",
        "Enrichment (GeoLite2 City shipped by maxminddb-geolite2; no ASN database):",
        "",
        "| run | IPs | seconds | IPs/s |",
        "|---|---:|---:|---:|",
        *enrichment,
        "",
        f"Pages: Django test client, signed in, DEBUG off, after 3 warm-up requests: "
        f"{args.uncached_requests} timed requests per uncached map scenario (cache off, every "
        f"request aggregates), {args.requests} per cached one and per link panel:",
        "",
        f"| page | p50 ms | p95 ms (map goal ≤ {MAP_P95_GOAL_MS}) | max ms | SQL queries | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for timing in map_timings + link_timings:
        goal = ""
        if timing in map_timings:
            goal = " (met)" if timing.p95_ms <= MAP_P95_GOAL_MS else " (NOT met)"
        lines.append(
            f"| {timing.scenario} | {timing.p50_ms:.1f} | {timing.p95_ms:.1f}{goal} "
            f"| {timing.max_ms:.1f} | {timing.queries} | {timing.detail} |"
        )
    lines += [
        "",
        "Rings (`rings_compute` over every transaction, snapshot written):",
        "",
        "| run | seconds | rings | accounts in rings | hub IPs / devices left out |",
        "|---|---:|---:|---:|---:|",
        *ring_lines,
    ]
    return "\n".join(lines)


def main() -> None:
    from bench.pages import describe_commit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--ips", type=int, default=200_000, help="distinct source IPs")
    parser.add_argument("--enrich", type=int, default=50_000, help="IPs for the enrichment rate")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per scenario")
    parser.add_argument(
        "--uncached-requests", type=int, default=20, help="timed uncached map requests"
    )
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    parser.add_argument("--reuse", action="store_true", help="keep a database seeded earlier")
    parser.add_argument("--keep-servers", action="store_true", help="leave the servers running")
    parser.add_argument(
        "--covering-index", action="store_true",
        help="create the covering index proposed for the map's aggregation first",
    )  # fmt: skip
    args = parser.parse_args()
    if args.ips > 2 * args.accounts:
        sys.exit("each account owns two IPs: --ips must be at most 2 x --accounts")

    use_own_servers(args.var_dir)
    commit = describe_commit()
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/ips.py", reuse=args.reuse)

    import django

    try:
        django.setup()
        from django.core.management import call_command
        from django.test.utils import override_settings

        call_command("migrate", verbosity=0)
        seeded = existing_data() if args.reuse else None
        if seeded is None:
            print(f"seeding {args.transactions:,} transactions, {args.ips:,} IPs ...",
                  file=sys.stderr, flush=True)  # fmt: skip
            seeded = seed(args.transactions, args.accounts, args.ips)
        apply_covering_index(args.covering_index)
        plain_static = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(STORAGES=plain_static):
            enrichment = bench_enrichment(seeded, args.enrich)
            map_timings = bench_map(args, seeded)
            ring_lines, link_timings = bench_rings_and_links(args, seeded)
        print()
        print(report(args, seeded, enrichment, map_timings, ring_lines, link_timings, commit))
    finally:
        from django.db import connections

        from fraudcase import embedded

        connections.close_all()
        if not args.keep_servers:
            embedded.stop_all(args.var_dir)


if __name__ == "__main__":
    main()
