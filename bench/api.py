"""The REST API over a real server: case sync at scale and intake (by hand, not in tests).

    python bench/api.py [--cases 50000] [--pages 200] [--details 200] [--workers 2]
                        [--concurrency 4] [--singles 200] [--batches 5] [--skip-intake] [--reuse]

Needs gunicorn (the `prod` extra: pip install -e '.[prod]').

Sync: seeds --cases cases (bench/api_sync.py's seed: two transactions each, a tag on one in
ten, a ninth merged), starts gunicorn serving fraudcase.wsgi (DEBUG off, --workers sync
workers) on a free loopback port over this benchmark's embedded Postgres, Redis and S3, and
measures from an HTTP client in this process (http.client, keep-alive): GET /api/v1/cases/
pages of 100 along the cursor (p50/p95 as the client saw them and as gunicorn's access log
timed them), a filtered list, case detail, a full mirror by cursor in pages of 500 (cases/s),
the same list pages from --concurrency clients at once, and intake POSTs to /api/v1/flags/
(single flags and 1,000-row batches) over HTTP. Queries per page are counted in-process.
The CPU time the gunicorn workers, Postgres and Redis spent per request (from /proc, through
psutil) is the load-independent figure: the machine's other work changes the latencies, not
that. Goal: list p95 <= 100 ms, O(1) queries per page.

Intake: then bench/api_intake.py's run() in a fresh process (its own embedded servers): the
in-process single/batch figures beside the S3 path, as that benchmark reports them.
Embedded servers under var/bench-api, wiped at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from api_clients import percentile, service_client
from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-api"
MARKER = ".fraudcase-bench-api"
LIST_P95_GOAL_MS = 100
SINGLE_P95_GOAL_MS = 50
BATCH_ROWS_PER_SECOND_GOAL = 5000


class Http:
    """One keep-alive connection to the server; each call returns (client ms, status, body)."""

    def __init__(self, port: int, auth: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": auth, "Accept": "application/json"}

    def call(self, method: str, path: str, body: bytes | None = None):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status} {content[:300]!r}")
        return elapsed, json.loads(content)

    def get(self, path: str):
        return self.call("GET", path)


def next_path(body: dict) -> str | None:
    return (
        None if not body["next"] else urlsplit(body["next"])._replace(scheme="", netloc="").geturl()
    )


class Server:
    """gunicorn serving fraudcase.wsgi; its access log gives the server time of each request."""

    def __init__(self, var_dir: Path, workers: int):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.access_log = var_dir / "gunicorn-access.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "fraudcase.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--chdir", str(BASE_DIR), "--access-logfile", str(self.access_log),
             "--access-logformat", "%(m)s %(s)s %(D)s", "--error-logfile",
             str(var_dir / "gunicorn-error.log"), "--log-level", "warning",
             # A loaded machine took over 30 s (the default) to import for the first request.
             "--timeout", "300"],
            cwd=BASE_DIR, env=dict(os.environ),
        )  # fmt: skip

    def wait_ready(self, auth: str) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                Http(self.port, auth).get("/api/v1/cases/?page_size=1")
                return
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)
        raise RuntimeError("gunicorn did not answer within 300 s")

    def log_lines(self) -> int:
        return len(self.access_log.read_text().splitlines()) if self.access_log.exists() else 0

    def server_ms(self, since_line: int) -> list[float]:
        """Server time (ms) of each request logged after line since_line."""
        time.sleep(0.2)  # the worker writes its line after the answer
        lines = self.access_log.read_text().splitlines()[since_line:]
        return [int(line.rsplit(" ", 1)[1]) / 1000 for line in lines]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class CpuMeter:
    """CPU seconds (user + system) spent by gunicorn's workers and the embedded Postgres (its
    backends, living and exited) and Redis, read from /proc through psutil."""

    def __init__(self, server: Server, var_dir: Path):
        import psutil

        self.psutil = psutil
        self.master = psutil.Process(server.process.pid)
        marker = str(var_dir.resolve())
        self.services = {}
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if marker in cmdline and "postgres -D" in cmdline:
                self.services["postgres"] = process
            elif marker in cmdline and "redis-server" in cmdline:
                self.services["redis"] = process

    @staticmethod
    def _own(process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def _tree(self, root, *, exited_children: bool) -> float:
        total = self._own(root)
        if exited_children:  # a reaped child's time lands in its parent's children_* fields
            times = root.cpu_times()
            total += times.children_user + times.children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(self.psutil.NoSuchProcess):  # ended meanwhile
                total += self._own(child)
        return total

    def sample(self) -> dict[str, float]:
        # gunicorn's master does no request work: its workers' time only.
        workers = sum(self._own(child) for child in self.master.children())
        sample = {"gunicorn": workers}
        for name, process in self.services.items():
            sample[name] = self._tree(process, exited_children=name == "postgres")
        return sample


class Phase:
    """Times one measured phase: client ms, server ms, CPU per request."""

    def __init__(self, name: str, server: Server, meter: CpuMeter):
        self.name, self.server, self.meter = name, server, meter

    def __enter__(self):
        self.line, self.cpu, self.started = (
            self.server.log_lines(),
            self.meter.sample(),
            time.perf_counter(),
        )
        self.client_ms: list[float] = []
        return self

    def __exit__(self, *exc):
        if exc[0]:
            return
        self.seconds = time.perf_counter() - self.started
        self.server_ms_list = self.server.server_ms(self.line)
        after = self.meter.sample()
        count = max(len(self.server_ms_list), 1)
        self.cpu_ms = {name: (after[name] - self.cpu[name]) * 1000 / count for name in after}

    def report(self, extra: str = "") -> str:
        client, served = self.client_ms, self.server_ms_list
        cpu = ", ".join(f"{name} {ms:.1f}" for name, ms in self.cpu_ms.items())
        return (
            f"{self.name} ({len(served)} requests): client p50 {statistics.median(client):.1f} / "
            f"p95 {percentile(client, 0.95):.1f} ms; server p50 {statistics.median(served):.1f} / "
            f"p95 {percentile(served, 0.95):.1f} ms; CPU per request (ms): {cpu}{extra}"
        )


def walk_list(http_client: Http, count: int, page_size: int, query: str = "") -> list[float]:
    times, path = [], None
    start = f"/api/v1/cases/?page_size={page_size}{query}"
    for _ in range(count):
        elapsed, body = http_client.get(path or start)
        times.append(elapsed)
        path = next_path(body)
    return times


def intake_over_http(http_client: Http, args, phase_for) -> list[str]:
    """Single flags, then batches of --batch-rows, POSTed to /api/v1/flags/ over HTTP."""
    from api_intake import json_lines
    from ingest import RowFactory

    factory = RowFactory(total_rows=20 + args.singles + args.batches * args.batch_rows)
    for line in json_lines(factory.part(0, 20, "hwarm")):
        http_client.call("POST", "/api/v1/flags/", line)
    with phase_for("intake, single flag POST") as single:
        for line in json_lines(factory.part(20, args.singles, "hone")):
            elapsed, body = http_client.call("POST", "/api/v1/flags/", line)
            single.client_ms.append(elapsed)
            assert body["rows"][0]["outcome"] == "loaded", body["rows"][0]
    with phase_for(f"intake, {args.batch_rows}-row batch POST") as batch:
        for number in range(args.batches):
            rows = factory.part(20 + args.singles + number * args.batch_rows, args.batch_rows, "hb")
            elapsed, body = http_client.call(
                "POST", "/api/v1/flags/", b"[" + b",".join(json_lines(rows)) + b"]"
            )
            batch.client_ms.append(elapsed)
            assert body["totals"]["rows_loaded"] == args.batch_rows, body["totals"]
    p95 = percentile(single.server_ms_list, 0.95)
    rate = args.batch_rows / (statistics.median(batch.server_ms_list) / 1000)
    return [
        single.report(f"; goal server p95 <= {SINGLE_P95_GOAL_MS} ms: "
                      f"{'met' if p95 <= SINGLE_P95_GOAL_MS else 'NOT met'}"),
        batch.report(f"; {rate:,.0f} rows/s by median server time; goal >= "
                     f"{BATCH_ROWS_PER_SECOND_GOAL:,}: "
                     f"{'met' if rate >= BATCH_ROWS_PER_SECOND_GOAL else 'NOT met'}"),
    ]  # fmt: skip


def measure_sync(args) -> None:
    from api_sync import migrated_and_seeded, queries_for_page
    from django.db import connection

    if args.reuse:  # the seeded cases of an earlier run; its benchmark users made anew
        from django.contrib.auth import get_user_model

        get_user_model().objects.filter(username__startswith="bench-").delete()
    else:
        migrated_and_seeded(args.cases)
    client = service_client("bench-sync", scope="read")
    small, large = queries_for_page(client, 10), queries_for_page(client, 100)
    read_auth = client._credentials["HTTP_AUTHORIZATION"]
    write_auth = _write_token("bench-sync")
    from cases.models import Case

    details = list(Case.objects.order_by("?").values_list("pk", flat=True)[: args.details])
    connection.close()  # the server's workers are the ones working now

    server = Server(args.var_dir, args.workers)
    try:
        server.wait_ready(read_auth)
        meter = CpuMeter(server, args.var_dir)
        http_client = Http(server.port, read_auth)
        walk_list(http_client, 20, 100)  # warm both workers' caches and connections
        lines = [f"cases: {args.cases:,}; gunicorn {args.workers} sync workers; "
                 f"queries per page: {small} at 10 rows, {large} at 100 rows"]  # fmt: skip

        def phase(name):
            return Phase(name, server, meter)

        with phase("list, pages of 100 along the cursor") as listing:
            listing.client_ms += walk_list(http_client, args.pages, 100)
        p95 = percentile(listing.server_ms_list, 0.95)
        lines.append(listing.report(f"; goal server p95 <= {LIST_P95_GOAL_MS} ms: "
                                    f"{'met' if p95 <= LIST_P95_GOAL_MS else 'NOT met'}"))  # fmt: skip
        with phase("list filtered (status=open, tag=ato)") as filtered:
            filtered.client_ms += walk_list(http_client, 50, 100, "&status=open&tag=ato")
        lines.append(filtered.report())
        with phase("detail") as detail:
            for pk in details:
                detail.client_ms.append(http_client.get(f"/api/v1/cases/FC-{pk:06d}/")[0])
        lines.append(detail.report())
        with phase("full mirror by cursor, pages of 500") as mirror:
            mirrored, path = 0, "/api/v1/cases/?page_size=500"
            while path:
                elapsed, body = http_client.get(path)
                mirror.client_ms.append(elapsed)
                mirrored += len(body["results"])
                path = next_path(body)
        lines.append(mirror.report(f"; {mirrored:,} cases in {mirror.seconds:.1f} s, "
                                   f"{mirrored / mirror.seconds:,.0f} cases/s"))  # fmt: skip
        with phase(f"list pages of 100 from {args.concurrency} clients at once") as busy:
            results: list[list[float]] = []

            def one_client() -> None:
                own = Http(server.port, read_auth)
                results.append(walk_list(own, args.pages // args.concurrency, 100))

            threads = [threading.Thread(target=one_client) for _ in range(args.concurrency)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            busy.client_ms = [ms for times in results for ms in times]
        lines.append(busy.report(f"; {len(busy.client_ms) / busy.seconds:.1f} requests/s"))
        lines += intake_over_http(Http(server.port, write_auth), args, phase)
    finally:
        server.stop()
    print("\n".join(f"- {line}" for line in lines))
    print(f"- load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)


def _write_token(username: str) -> str:
    from django.contrib.auth import get_user_model

    from cases.accounts.tokens import api_token_create

    users = get_user_model().objects
    issued = api_token_create(
        actor=users.get(username="bench-admin"), user_id=users.get(username=username).pk,
        name="bench-intake", scope="write",
    )  # fmt: skip
    return f"Bearer {issued.plain}"


def run_intake(args) -> None:
    """bench/api_intake.py's run(), in a process of its own (its own servers and settings)."""
    import api_intake

    api_intake.run(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--details", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--skip-intake", action="store_true", help="the sync part only")
    parser.add_argument(
        "--reuse", action="store_true",
        help="keep the cases an earlier run seeded under --var-dir (its --cases), no new seed",
    )  # fmt: skip
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    args = parser.parse_args()
    args.var_dir = args.var_dir.resolve()
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/api.py", reuse=args.reuse)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    use_own_servers(args.var_dir)  # DEBUG off, as production serves the API
    # The throttles would refuse a benchmark's pace: it measures the work, not the limits.
    os.environ["FRAUDCASE_API_RATE_PER_TOKEN"] = "10000000/minute"
    os.environ["FRAUDCASE_API_RATE_PER_IP"] = "10000000/minute"
    import django

    django.setup()
    print("## sync and intake over a real server (gunicorn)", flush=True)
    try:
        measure_sync(args)
    finally:
        from django.db import connections

        from fraudcase import embedded

        connections.close_all()
        embedded.stop_all(args.var_dir)
    if args.skip_intake:
        return
    print("## intake in-process beside the S3 path (bench/api_intake.py)", flush=True)
    intake_args = argparse.Namespace(
        singles=args.singles, batches=args.batches, batch_rows=args.batch_rows,
        var_dir=(BASE_DIR / "var" / "bench-api-intake").resolve(),
    )  # fmt: skip
    child = multiprocessing.get_context("spawn").Process(target=run_intake, args=(intake_args,))
    child.start()
    child.join()
    if child.exitcode:
        sys.exit(f"bench/api_intake.py ended with exit code {child.exitcode}")


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
