"""The server's cost of each analyst action of bench/load.py: one user, no ingest running.

    python bench/load_profile.py [--rounds 20] [--sign-ins 4] [--seed-rows 5000] [--cprofile]

Starts its own embedded PostgreSQL, Redis and S3 under var/bench-load-profile (wiped at the
start), creates analysts the way bench/load.py does (TOTP required), ingests --seed-rows rows
in-process (so the queue holds cases) and indexes their embeddings (as the worker would),
then serves fraudcase.wsgi with gunicorn (1 sync worker, the same preloaded config as
bench/load.py, DEBUG off) and clicks through bench/load.py's actions with a plain HTTP
client: --sign-ins sign-ins (each a different analyst: a TOTP code is good once), then
--rounds rounds of queue, claim next, open case, decide, label, note and close (every round
closes its case).

Measured inside the gunicorn worker (gunicorn's pre_request/post_request hooks, around the
whole Django request): the worker's process CPU time (time.process_time), wall time, the SQL
statements Django sent and the time they took (an execute wrapper on the connection), the
CPU time spent rendering templates (the outermost Template.render, its lazy queries
included), and the CPU time the PostgreSQL backend serving the worker's connection spent
meanwhile (its /proc/<pid>/stat, 10 ms ticks: averaged over the repetitions). Prints one
table (mean per request; CPU also its median, as the first of each action pays for compiling
its templates) and, with --cprofile, the hottest functions of each action (cProfile inflates
the CPU figures: a separate pass).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-load-profile"
MARKER = ".fraudcase-bench-load-profile"
ORDER = ["sign-in page", "sign in", "second-factor page", "second factor", "queue",
         "claim next", "open case", "decide", "label", "note", "close"]  # fmt: skip

sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))

# The worker's hooks: one JSON line per request into FRAUDCASE_BENCH_PROFILE_LOG.
GUNICORN_HOOKS = """

import json as _json
import os as _os
import time as _time

_state = {}
_LOG = _os.environ["FRAUDCASE_BENCH_PROFILE_LOG"]
_CPROFILE = _os.environ.get("FRAUDCASE_BENCH_CPROFILE_DIR")
_TICK = _os.sysconf("SC_CLK_TCK")
_SQL = _os.environ.get("FRAUDCASE_BENCH_SQL")


def _sql_counter(execute, sql, params, many, context):
    started = _time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        _state["queries"] += 1
        _state["sql"] += _time.perf_counter() - started
        if _SQL:
            _state["statements"].append(
                f"{(_time.perf_counter() - started) * 1000:.1f} ms {sql[:300]}"
            )


def _backend_cpu():
    from django.db import connection

    raw = connection.connection
    if raw is None:
        return None, 0.0
    pid = raw.info.backend_pid
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return pid, 0.0
    return pid, (int(fields[11]) + int(fields[12])) / _TICK


def _timed_render(render):
    def wrapper(self, context):
        if _state.get("rendering"):
            return render(self, context)
        _state["rendering"] = True
        started = _time.process_time()
        try:
            return render(self, context)
        finally:
            _state["rendering"] = False
            _state["template"] += _time.process_time() - started

    return wrapper


def post_fork(server, worker):
    from django.db import connection
    from django.template.base import Template

    Template.render = _timed_render(Template.render)
    from django.db.backends.signals import connection_created

    def wrap(sender, connection, **kwargs):
        if _sql_counter not in connection.execute_wrappers:
            connection.execute_wrappers.append(_sql_counter)

    connection_created.connect(wrap, weak=False)
    if _sql_counter not in connection.execute_wrappers:
        connection.execute_wrappers.append(_sql_counter)


def pre_request(worker, req):
    _state.update(queries=0, sql=0.0, template=0.0, backend=_backend_cpu(), statements=[])
    if _CPROFILE:
        import cProfile

        _state["profile"] = cProfile.Profile()
        _state["profile"].enable()
    _state["wall"] = _time.perf_counter()
    _state["cpu"] = _time.process_time()


def post_request(worker, req, environ, resp):
    cpu = _time.process_time() - _state["cpu"]
    wall = _time.perf_counter() - _state["wall"]
    name = dict(req.headers).get("X-BENCH-ACTION", req.path)
    if _CPROFILE:
        _state["profile"].disable()
        _state["profile"].dump_stats(
            _os.path.join(_CPROFILE, f"{name.replace(' ', '_')}-{_time.time_ns()}.pstats")
        )
    pid_before, backend_before = _state["backend"]
    pid_after, backend_after = _backend_cpu()
    backend = backend_after - backend_before if pid_before == pid_after else None
    with open(_LOG, "a") as log:
        log.write(_json.dumps({
            "name": name, "status": resp.status_code if hasattr(resp, "status_code") else str(resp.status),
            "cpu": cpu, "wall": wall, "queries": _state["queries"], "sql": _state["sql"],
            "backend": backend, "template": _state["template"], **({"statements": _state["statements"]} if _SQL else {}),
        }) + "\\n")
"""


def start_gunicorn(var_dir: Path, log: Path, cprofile_dir: Path | None, sql: bool = False):
    import socket

    from load import GUNICORN_CONFIG, wait_until_answering

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = var_dir / "gunicorn-profile.conf.py"
    config.write_text(GUNICORN_CONFIG + GUNICORN_HOOKS)
    env = dict(os.environ, FRAUDCASE_BENCH_PROFILE_LOG=str(log))
    if cprofile_dir:
        env["FRAUDCASE_BENCH_CPROFILE_DIR"] = str(cprofile_dir)
    if sql:
        env["FRAUDCASE_BENCH_SQL"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fraudcase.wsgi:application", "-c", str(config),
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--chdir", str(BASE_DIR),
         "--error-logfile", str(var_dir / "gunicorn-error.log"), "--log-level", "warning"],
        cwd=BASE_DIR, env=env,
    )  # fmt: skip
    wait_until_answering(process, port, headers={"X-Bench-Action": "warm-up"})
    return process, port


def click_through(base: str, accounts: list, rounds: int) -> dict:
    """bench/load.py's clicks, in its order; returns how many of each were answered as expected."""
    import requests
    from load import CASE_LINK_RE, CLOSE_REASONS, CSRF_RE, TX_RE, totp

    done: dict[str, int] = {}
    unexpected: list[str] = []

    def call(session, method, path, name, expected, **kwargs):
        headers = {"X-Bench-Action": name, **kwargs.pop("headers", {})}
        response = session.request(
            method, base + path, headers=headers, allow_redirects=False, timeout=120, **kwargs
        )
        if response.status_code == expected:
            done[name] = done.get(name, 0) + 1
        else:
            unexpected.append(f"{name}: HTTP {response.status_code}")
        return response

    sessions = []
    for username, password, key in accounts:
        session = requests.Session()
        page = call(session, "GET", "/auth/login/", "sign-in page", 200)
        csrf = CSRF_RE.search(page.text).group(1)
        call(session, "POST", "/auth/login/", "sign in", 302, data={
            "csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": "/"})  # fmt: skip
        page = call(session, "GET", "/auth/2fa/", "second-factor page", 200)
        csrf = CSRF_RE.search(page.text).group(1)
        call(session, "POST", "/auth/2fa/", "second factor", 302, data={
            "csrfmiddlewaretoken": csrf, "otp_token": totp(key), "next": "/"})  # fmt: skip
        sessions.append(session)

    session = sessions[0]
    for number in range(rounds):
        page = call(session, "GET", "/", "queue", 200)
        links = CASE_LINK_RE.findall(page.text)
        csrf = CSRF_RE.search(page.text).group(1)
        claimed = call(session, "POST", "/cases/claim-next/", "claim next", 302,
                       data={"csrfmiddlewaretoken": csrf})  # fmt: skip
        location = claimed.headers.get("Location", "")
        case_url = location if re.fullmatch(r"/cases/FC-\d+/", location) else None
        case_url = case_url or (links[0] if links else None)
        if case_url is None:
            unexpected.append("no case to open")
            break
        page = call(session, "GET", case_url, "open case", 200)
        tx_ids = TX_RE.findall(page.text)
        csrf = CSRF_RE.search(page.text).group(1)
        if not tx_ids:
            unexpected.append(f"no transaction on {case_url}")
            continue
        htmx = {"HX-Request": "true"}
        call(session, "POST", case_url + "verdict/", "decide", 200, headers=htmx, data={
            "csrfmiddlewaretoken": csrf, "transaction_id": tx_ids[0], "decision": "block"})  # fmt: skip
        call(session, "POST", case_url + "verdict/", "label", 200, headers=htmx, data={
            "csrfmiddlewaretoken": csrf, "transaction_id": tx_ids[-1], "label": "fraud"})  # fmt: skip
        call(session, "POST", case_url + "notes/", "note", 302, data={
            "csrfmiddlewaretoken": csrf,
            "body": f"Called the customer at {datetime.now(UTC):%H:%M:%S}; **no** answer."})  # fmt: skip
        resolution = sorted(CLOSE_REASONS)[number % 2]
        call(session, "POST", case_url + "close/", "close", 302, data={
            "csrfmiddlewaretoken": csrf, "resolution": resolution,
            "reason_codes": CLOSE_REASONS[resolution], "comment": "Bench: profiled."})  # fmt: skip
    return {"done": done, "unexpected": unexpected}


def table(entries: list[dict]) -> list[str]:
    by_name: dict[str, list[dict]] = {}
    for entry in entries:
        by_name.setdefault(entry["name"], []).append(entry)
    lines = [
        "| action | requests | worker CPU ms | median | of which templates | wall ms | SQL "
        "queries | SQL ms | PostgreSQL CPU ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in [n for n in ORDER if n in by_name]:
        rows = by_name[name]
        cpu = sorted(r["cpu"] * 1000 for r in rows)
        backend = [r["backend"] * 1000 for r in rows if r["backend"] is not None]
        lines.append(
            f"| {name} | {len(rows)} | {statistics.mean(cpu):.1f} | "
            f"{statistics.median(cpu):.1f} | "
            f"{statistics.mean(r['template'] * 1000 for r in rows):.1f} | "
            f"{statistics.mean(r['wall'] * 1000 for r in rows):.1f} | "
            f"{statistics.mean(r['queries'] for r in rows):.1f} | "
            f"{statistics.mean(r['sql'] * 1000 for r in rows):.1f} | "
            f"{statistics.mean(backend) if backend else float('nan'):.1f} |"
        )
    return lines


# bench/load.py's round: each of these is a task followed by think time; close posts in
# --close-share of the rounds (a claimed case), the other tasks every round.
ROUND = ["queue", "claim next", "open case", "decide", "label", "note", "close"]


def capacity(
    entries: list[dict], *, users: int = 50, think_mean: float = 3.0, close_share: float = 0.5
) -> list[str]:
    """What bench/load.py's analysts ask of the server's CPUs, from the median worker CPU and
    the mean PostgreSQL CPU of each action: an upper bound on the offered load (think time
    only, as if every answer were instant), against the machine's cores."""
    by_name: dict[str, list[dict]] = {}
    for entry in entries:
        by_name.setdefault(entry["name"], []).append(entry)
    if not all(name in by_name for name in ROUND):
        return []

    def cost(name: str) -> tuple[float, float]:
        rows = by_name[name]
        backend = [r["backend"] for r in rows if r["backend"] is not None]
        return statistics.median(r["cpu"] for r in rows), statistics.mean(backend or [0.0])

    share = {name: close_share if name == "close" else 1.0 for name in ROUND}
    worker = sum(cost(name)[0] * share[name] for name in ROUND)
    database = sum(cost(name)[1] * share[name] for name in ROUND)
    requests = sum(share.values())
    round_seconds = len(ROUND) * think_mean
    rounds_per_second = users / round_seconds
    demand = rounds_per_second * (worker + database)
    cores = os.cpu_count() or 1
    sign_in = sum(sum(cost(name)) for name in ORDER[:4] if name in by_name)
    return [
        f"- a round of bench/load.py: {len(ROUND)} tasks, each followed by {think_mean:.0f} s "
        f"of think time on average ({round_seconds:.0f} s), {requests:.1f} requests (close "
        f"in {close_share:.0%}); server CPU a round {worker * 1000:.0f} ms in the worker + "
        f"{database * 1000:.0f} ms in PostgreSQL = {(worker + database) * 1000:.0f} ms "
        f"({(worker + database) / requests * 1000:.0f} ms a request)",
        f"- {users} analysts offer at most {rounds_per_second:.2f} rounds/s = "
        f"{rounds_per_second * requests:.1f} requests/s: {demand:.2f} CPU-seconds a second "
        f"against {cores} cores ({demand / cores:.0%} of the machine) before the ingest, the "
        f"Celery worker's k-NN indexing and the locust client take their share",
        f"- a sign-in (4 requests) costs {sign_in * 1000:.0f} ms of CPU: the ramp-up at one "
        f"user a second adds {sign_in:.2f} CPU-seconds a second while it lasts",
    ]


def cprofile_report(directory: Path, top: int) -> list[str]:
    import pstats

    lines = []
    names = sorted({p.name.rsplit("-", 1)[0] for p in directory.glob("*.pstats")})
    for name in names:
        files = sorted(str(p) for p in directory.glob(f"{name}-*.pstats"))
        stats = pstats.Stats(files[0])
        for extra in files[1:]:
            stats.add(extra)
        lines.append(f"\n## {name.replace('_', ' ')} ({len(files)} requests, cumulative)")
        import io

        out = io.StringIO()
        stats.stream = out
        stats.sort_stats("cumulative").print_stats(r"(cases|fraudcase|analytics|django)/", top)
        lines.append(out.getvalue().split("\n\n", 2)[-1])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sign-ins", type=int, default=4)
    parser.add_argument("--seed-rows", type=int, default=5_000)
    parser.add_argument("--cprofile", action="store_true", help="hottest functions per action")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--keep-servers",
        action="store_true",
        help="leave the embedded servers running (to look further; stop them with "
        "fraudcase.embedded.stop_all on the var dir)",
    )
    parser.add_argument(
        "--sql", action="store_true", help="keep each request's SQL in var-dir/requests.jsonl"
    )
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    args = parser.parse_args()
    var_dir = args.var_dir.resolve()

    from load import analysts_create, describe_commit, stop, upload
    from vardir import prepare_var_dir, use_own_servers

    commit = describe_commit()
    prepare_var_dir(var_dir, marker=MARKER, made_by="bench/load_profile.py")
    use_own_servers(var_dir)
    os.environ["FRAUDCASE_REQUIRE_OTP_FOR_ANALYSTS"] = "true"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ["SESSION_COOKIE_SECURE"] = "false"
    os.environ["CSRF_COOKIE_SECURE"] = "false"
    os.environ["FRAUDCASE_LOGIN_IP_FAILURE_LIMIT"] = "1000"
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import get_hasher
    from django.core.management import call_command
    from django.db import connections

    from cases.ingest import services as ingest_services
    from cases.similarity.services import similarity_index_catch_up
    from fraudcase import embedded

    server = None
    load_start = os.getloadavg()
    try:
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        accounts = analysts_create(args.sign_ins)
        upload("seed", args.seed_rows, args.seed_rows, "lps", flawed=False)
        from load import BUCKET

        for s3_object in ingest_services.list_objects(bucket=BUCKET, prefix="seed/"):
            run, _ = ingest_services.ingest_run_register(s3_object=s3_object, triggered_by="bench")
            ingest_services.ingest_run_execute(run_id=run.pk)
        # What the Celery worker does after an ingest: the embeddings into the k-NN graph.
        similarity_index_catch_up()
        connections.close_all()
        log = var_dir / "requests.jsonl"
        cprofile_dir = None
        if args.cprofile:
            cprofile_dir = var_dir / "cprofile"
            cprofile_dir.mkdir()
        server, port = start_gunicorn(var_dir, log, cprofile_dir, args.sql)
        outcome = click_through(f"http://127.0.0.1:{port}", accounts, args.rounds)
        time.sleep(0.5)
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        load_end = os.getloadavg()
        hasher = get_hasher()
        lines = [
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit}",
            f"- command: python bench/load_profile.py {' '.join(sys.argv[1:])}",
            f"- machine: nproc {os.cpu_count()}, Python {platform.python_version()}; load "
            f"average (1, 5, 15 min) {', '.join(f'{x:.2f}' for x in load_start)} at the start, "
            f"{', '.join(f'{x:.2f}' for x in load_end)} at the end",
            f"- one analyst (TOTP), gunicorn 1 sync worker, DEBUG off, no ingest, no Celery "
            f"worker; {args.seed_rows:,} rows ingested before; password hasher "
            f"{hasher.algorithm} ({getattr(hasher, 'iterations', '?'):,} iterations)"
            + ("; **cProfile on: CPU figures inflated**" if args.cprofile else ""),
            "",
            *table([e for e in entries if e["name"] in ORDER]),
            "",
            f"- answered as expected: {outcome['done']}; unexpected: "
            f"{outcome['unexpected'] or 'none'}",
            "",
            *capacity([e for e in entries if e["name"] in ORDER]),
        ]
        print("\n".join(lines), flush=True)
        if cprofile_dir:
            print("\n".join(cprofile_report(cprofile_dir, args.top)), flush=True)
        if args.sql:
            kept = var_dir.parent / "bench-load-profile-requests.jsonl"
            kept.write_text(log.read_text())
            print(f"- each request's SQL: {kept}", flush=True)
        del settings
    finally:
        stop(server)
        connections.close_all()
        if not args.keep_servers:
            embedded.stop_all(var_dir)


if __name__ == "__main__":
    main()
