"""Analysts at work while an ingest runs: locust against gunicorn, a real Celery worker ingesting.

    python bench/load.py [--users 50] [--rows 200000] [--smoke]

Needs locust and gunicorn (the `bench` and `prod` extras: pip install -e '.[bench,prod]').

Starts this benchmark's own embedded PostgreSQL, Redis and S3 under var/bench-load (wiped at
the start), creates --users analysts (each with a confirmed TOTP authenticator: the run turns
FRAUDCASE_REQUIRE_OTP_FOR_ANALYSTS on, so every sign-in passes the second factor the way a
lead's does) in both default queues, starts gunicorn serving fraudcase.wsgi (DEBUG off) and a
Celery worker, has the worker ingest a small seed object (so the queue is not empty), then
uploads --rows rows in objects of --part-rows and queues their ingest on the worker. While it
runs, locust (in a child process: gevent must patch before anything else is imported) signs
the analysts in and each works in a loop, thinking --think-min..--think-max seconds between
clicks: the queue, claim next, open the case, decide a transaction, label one, add a note,
and close the case (--close-share of the time). The load stops when the ingest has finished
and --min-seconds have passed (or after --max-seconds).

Reported: users sustained, p50/p95/max per action (locust's client-side times, after the
ramp-up), requests/s, errors (any unexpected HTTP status or a failed connection) and the
refusals the pages showed (a domain message such as "someone else holds this case"), the
ingest's rows/s under load and its books against the source (the generated files carry a
known number of in-file duplicates and invalid rows: rows read = loaded + duplicates +
quarantined, every valid transaction id stored exactly once, none lost), rows that landed in
a case already closed when they arrived, and `manage.py verify_audit`.
"""

from __future__ import annotations

import sys

if "--locust-child" in sys.argv:  # gevent's monkey patching must come first
    from gevent import monkey

    monkey.patch_all()

import argparse
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import struct
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var" / "bench-load"
MARKER = ".fraudcase-bench-load"
BUCKET = "fraudcase-bench-load"
P95_GOAL_MS = 300
USERS_GOAL = 50
# Every DUPLICATE_EVERY-th generated row repeats the transaction id of the row before it (a
# duplicate the ingest must count, not load); every INVALID_EVERY-th has an unknown currency
# (quarantined). Rows hit by both count as invalid.
DUPLICATE_EVERY = 997
INVALID_EVERY = 1009
CLOSE_REASONS = {"confirmed_fraud": "card-compromised", "false_positive": "customer-confirmed"}


# --- TOTP (RFC 6238, as django-otp's TOTPDevice checks it) ---------------------------------


def totp(key_hex: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


# --- the analysts (locust, child process) ---------------------------------------------------

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TX_RE = re.compile(r'name="transaction_id" value="([^"]+)"')
CASE_LINK_RE = re.compile(r'href="(/cases/FC-\d+/)"')
ERROR_MESSAGE_RE = re.compile(r'<p class="message message-error">([^<]*)</p>')


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def locust_child(config_path: str) -> None:
    import gevent
    from locust import HttpUser, SequentialTaskSet, between, events, task
    from locust.env import Environment

    config = json.loads(Path(config_path).read_text())
    accounts = list(config["accounts"])
    totals: dict = {"requests": 0, "failures": 0, "errors": {}, "refusals": {}}
    timings: dict[str, list[tuple[float, float, bool]]] = {}  # name: (when, ms, failed)

    @events.request.add_listener
    def count(request_type, name, response_time, response_length, exception, **kwargs):
        timings.setdefault(name, []).append((time.time(), response_time, bool(exception)))
        totals["requests"] += 1
        if exception:
            totals["failures"] += 1
            key = f"{name}: {str(exception)[:200]}"
            totals["errors"][key] = totals["errors"].get(key, 0) + 1

    def refusals(body: str) -> None:
        for message in ERROR_MESSAGE_RE.findall(body):
            text = re.sub(r"FC-\d+", "FC-…", message)[:160]
            totals["refusals"][text] = totals["refusals"].get(text, 0) + 1

    def expect(response, *statuses: int) -> bool:
        if response.status_code in statuses:
            response.success()
            return True
        response.failure(f"HTTP {response.status_code}, expected {statuses}")
        return False

    class Work(SequentialTaskSet):
        """One analyst's round: each step is a click, with think time between them."""

        case_url: str | None = None
        tx_ids: list[str] = []
        csrf = ""

        def _page(self, path: str, name: str) -> str:
            # Not followed: a page that sends the analyst elsewhere (the second factor, the
            # sign-in page) is a failure, not the page at the end of the redirect.
            with self.client.get(
                path, name=name, allow_redirects=False, catch_response=True
            ) as response:
                if not expect(response, 200):
                    return ""
                body = response.text
            if match := CSRF_RE.search(body):
                self.csrf = match.group(1)
            refusals(body)
            return body

        def _post(self, path: str, name: str, data: dict, *statuses: int, htmx=False):
            headers = {"HX-Request": "true"} if htmx else {}
            with self.client.post(
                path, data={"csrfmiddlewaretoken": self.csrf, **data}, name=name,
                headers=headers, allow_redirects=False, catch_response=True,
            ) as response:  # fmt: skip
                expect(response, *statuses)
                return response

        @task
        def queue(self):
            body = self._page("/", "queue")
            self.queue_links = CASE_LINK_RE.findall(body)

        @task
        def claim_next(self):
            response = self._post("/cases/claim-next/", "claim next", {}, 302)
            location = response.headers.get("Location", "")
            self.case_url = location if re.fullmatch(r"/cases/FC-\d+/", location) else None
            self.claimed = self.case_url is not None
            if self.case_url is None and self.queue_links:  # nothing waiting: read one
                self.case_url = self.queue_links[0]

        @task
        def open_case(self):
            self.tx_ids = []
            if self.case_url:
                body = self._page(self.case_url, "open case")
                self.tx_ids = TX_RE.findall(body)

        @task
        def decide(self):
            if self.tx_ids:
                self._post(
                    self.case_url + "verdict/", "decide",
                    {"transaction_id": self.tx_ids[0], "decision": "block"}, 200, htmx=True,
                )  # fmt: skip

        @task
        def label(self):
            if self.tx_ids:
                self._post(
                    self.case_url + "verdict/", "label",
                    {"transaction_id": self.tx_ids[-1], "label": "fraud"}, 200, htmx=True,
                )  # fmt: skip

        @task
        def note(self):
            if self.tx_ids:
                self._post(
                    self.case_url + "notes/", "note",
                    {"body": f"Called the customer at {datetime.now(UTC):%H:%M:%S}; **no** answer."},
                    302,
                )  # fmt: skip

        @task
        def close(self):
            if (
                self.tx_ids
                and self.claimed
                and secrets.randbelow(1000) < config["close_share"] * 1000
            ):
                resolution = secrets.choice(sorted(CLOSE_REASONS))
                self._post(
                    self.case_url + "close/", "close",
                    {"resolution": resolution, "reason_codes": CLOSE_REASONS[resolution],
                     "comment": "Bench: decided under load."},
                    302,
                )  # fmt: skip

    class Analyst(HttpUser):
        wait_time = between(config["think_min"], config["think_max"])
        tasks = [Work]

        def on_start(self):
            username, password, key = accounts.pop()
            with self.client.get("/auth/login/", name="sign-in page", catch_response=True) as r:
                expect(r, 200)
                csrf = CSRF_RE.search(r.text).group(1)
            with self.client.post(
                "/auth/login/", name="sign in",
                data={"csrfmiddlewaretoken": csrf, "username": username, "password": password,
                      "next": "/"},
                allow_redirects=False, catch_response=True,
            ) as r:  # fmt: skip
                expect(r, 302)
            # A code is good for its 30 s step and one step either side: one that waited in
            # a busy server's queue for longer is refused (the page shows the form again, a
            # failure here). Then, as a person would, wait out the device's back-off and type
            # the new code.
            for attempt in range(4):
                with self.client.get(
                    "/auth/2fa/", name="second-factor page", catch_response=True
                ) as r:
                    if not expect(r, 200):
                        return
                    csrf = CSRF_RE.search(r.text).group(1)
                with self.client.post(
                    "/auth/2fa/", name="second factor",
                    data={"csrfmiddlewaretoken": csrf, "otp_token": totp(key), "next": "/"},
                    allow_redirects=False, catch_response=True,
                ) as r:  # fmt: skip
                    if r.status_code == 302 and not r.headers["Location"].startswith("/auth/"):
                        r.success()
                        return
                    r.failure(
                        f"second factor refused (HTTP {r.status_code}), attempt {attempt + 1}"
                    )
                gevent.sleep(2 ** (attempt + 1))

    env = Environment(user_classes=[Analyst], events=events, host=config["host"])
    runner = env.create_local_runner()
    spawned = {"at": None}

    @events.spawning_complete.add_listener
    def on_spawned(user_count, **kwargs):
        spawned["at"] = time.time()
        spawned["users"] = user_count

    started = time.time()
    runner.start(config["users"], spawn_rate=config["spawn_rate"])
    users_seen: list[int] = []
    stop_file = Path(config["stop_file"])
    while not stop_file.exists() and time.time() - started < config["max_seconds"]:
        gevent.sleep(1)
        if spawned["at"]:
            users_seen.append(runner.user_count)
    ended = time.time()
    runner.quit()
    steady_from = spawned["at"] or ended

    def summary(entries: list[tuple[float, float, bool]], seconds: float) -> dict:
        times = sorted(ms for _, ms, _ in entries)
        if not times:
            return {"requests": 0, "failures": 0, "p50": 0, "p95": 0, "max": 0, "rps": 0}
        return {
            "requests": len(times), "failures": sum(failed for *_, failed in entries),
            "p50": percentile(times, 0.5), "p95": percentile(times, 0.95), "max": times[-1],
            "rps": len(times) / max(seconds, 1e-9),
        }  # fmt: skip

    steady_seconds = ended - steady_from
    result = {
        "steady_seconds": steady_seconds,
        "seconds": ended - started,
        "users_target": config["users"],
        "users_spawned": spawned.get("users", 0),
        "users_min": min(users_seen) if users_seen else 0,
        # The steady phase (every user started): what the goals are judged on.
        "names": {
            name: summary([e for e in entries if e[0] >= steady_from], steady_seconds)
            for name, entries in timings.items()
        },
        "total": summary(
            [e for entries in timings.values() for e in entries if e[0] >= steady_from],
            steady_seconds,
        ),
        # The whole run, ramp-up and sign-ins included.
        "whole_names": {
            name: summary(entries, ended - started) for name, entries in timings.items()
        },
        "whole_run": totals,
    }
    Path(config["result"]).write_text(json.dumps(result))


# --- the run (parent process) ---------------------------------------------------------------


def analysts_create(count: int) -> list[tuple[str, str, str]]:
    """count analysts (audited user_create by the system actor), each with a confirmed TOTP
    device of a key the bench knows, members of the default queues (set up by an admin)."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cases.accounts.roles import Role
    from cases.accounts.users import user_create
    from cases.audit.trail import system_actor
    from cases.workflow.services.setup import workflow_defaults_ensure

    admin = user_create(
        actor=system_actor(), username="bench-admin", password=secrets.token_urlsafe(18),
        roles=[Role.ADMIN],
    )  # fmt: skip
    accounts, ids = [], []
    for number in range(count):
        password = secrets.token_urlsafe(18)
        user = user_create(
            actor=system_actor(), username=f"analyst{number:03d}", password=password,
            roles=[Role.ANALYST],
        )  # fmt: skip
        key = secrets.token_hex(20)
        TOTPDevice.objects.create(user=user, name="bench", key=key, confirmed=True)
        accounts.append((user.username, password, key))
        ids.append(user.pk)
    workflow_defaults_ensure(actor=get_user_model().objects.get(pk=admin.pk), member_ids=ids)
    return accounts


def upload(prefix: str, rows: int, part_rows: int, tag: str, *, flawed: bool) -> dict:
    """Parquet objects of generated rows under prefix; returns what the source holds."""
    from ingest import RowFactory

    from cases.fileformats import encode_rows
    from cases.s3 import ensure_bucket, s3_client

    s3 = s3_client()
    ensure_bucket(s3, BUCKET)
    factory = RowFactory(rows, seed=20261206 + len(tag))
    ids: set[str] = set()
    source = {"rows": 0, "duplicates": 0, "invalid": 0, "objects": 0}
    for part, start in enumerate(range(0, rows, part_rows)):
        part_rows_now = factory.part(start, min(part_rows, rows - start), tag)
        for offset, row in enumerate(part_rows_now):
            number = start + offset + 1
            if flawed and number % INVALID_EVERY == 0:
                row["currency"] = "ZZZ"
                source["invalid"] += 1
                continue
            if (
                flawed and number % DUPLICATE_EVERY == 0 and offset > 0
                and (number - 1) % INVALID_EVERY != 0
            ):  # fmt: skip
                row["transaction_id"] = part_rows_now[offset - 1]["transaction_id"]
                source["duplicates"] += 1
                continue
            ids.add(row["transaction_id"])
        source["rows"] += len(part_rows_now)
        s3.put_object(
            Bucket=BUCKET, Key=f"{prefix}/part-{part:05d}.parquet",
            Body=encode_rows(part_rows_now, "parquet"),
        )  # fmt: skip
        source["objects"] += 1
    source["ids"] = ids
    return source


def ingest_queue(prefix: str) -> list[int]:
    from cases import dispatch
    from cases.ingest import services as ingest_services

    run_ids = []
    for s3_object in ingest_services.list_objects(bucket=BUCKET, prefix=prefix + "/"):
        run, _ = ingest_services.ingest_run_register(s3_object=s3_object, triggered_by="bench")
        dispatch.queue(dispatch.INGEST_OBJECT, run.pk)
        run_ids.append(run.pk)
    return run_ids


def runs_finished(run_ids: list[int]) -> bool:
    from cases.ingest import services as ingest_services
    from cases.models import IngestRun

    return (
        not IngestRun.objects.filter(pk__in=run_ids)
        .exclude(status__in=ingest_services.FINISHED)
        .exists()
    )


def books(run_ids: list[int], source: dict) -> tuple[bool, list[str]]:
    """The ingest's own counts against the source, and the stored ids against the source's."""
    from django.db import connection

    from cases.models import IngestRun

    runs = list(IngestRun.objects.filter(pk__in=run_ids))
    read = sum(run.rows_read for run in runs)
    loaded = sum(run.rows_loaded for run in runs)
    duplicate = sum(run.rows_duplicate for run in runs)
    quarantined = sum(run.rows_quarantined for run in runs)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id FROM cases_transaction WHERE ingest_run_id = ANY(%s)",
            [run_ids],
        )
        stored = [row[0] for row in cursor.fetchall()]
    stored_set = set(stored)
    lost = source["ids"] - stored_set
    unexpected = stored_set - source["ids"]
    twice = len(stored) - len(stored_set)
    statuses = sorted({run.status for run in runs})
    ok = (
        read == source["rows"] == loaded + duplicate + quarantined
        and loaded == len(source["ids"]) and duplicate == source["duplicates"]
        and quarantined == source["invalid"] and not lost and not unexpected and not twice
        and statuses == ["succeeded"]
    )  # fmt: skip
    return ok, [
        f"source: {source['rows']:,} rows in {source['objects']} objects, of which "
        f"{source['duplicates']} repeat the id of the row before and {source['invalid']} are "
        f"invalid (unknown currency): {len(source['ids']):,} distinct valid transactions",
        f"ingest: read {read:,} = loaded {loaded:,} + duplicates {duplicate:,} + quarantined "
        f"{quarantined:,}; run statuses {', '.join(statuses)}",
        f"stored: {len(stored):,} rows; valid source ids missing (lost) {len(lost)}, stored but "
        f"not in the source {len(unexpected)}, stored twice {twice}",
    ]


def landed_in_closed_cases(run_ids: list[int]) -> tuple[int, int]:
    """Rows of these runs in a finished case they joined after it finished, and (for
    comparison only) the rows whose ingested_at is later than their case's closed_at.

    A close gives every transaction of the case without a decision the resolution's (each
    resolution has one) and nothing decides a transaction of a finished case, so a closed
    case's row without a decision joined it after the close; a merge moves every row of the
    merged case, so any row in one came later. The timestamps cannot tell: closed_at is the
    closing transaction's now(), taken before it waited for the case lock an ingest chunk
    held, and ingested_at the moment that chunk copied its rows, later, though the close
    (committed after the chunk) saw them (cases/tests/test_close_timestamps.py)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FILTER (WHERE c.status = 'merged'
                                          OR (c.status = 'closed' AND t.decision = '')),
                      count(*) FILTER (WHERE c.status IN ('closed', 'merged')
                                         AND c.closed_at IS NOT NULL
                                         AND t.ingested_at > c.closed_at)
               FROM cases_transaction t JOIN cases_case c ON c.id = t.case_id
               WHERE t.ingest_run_id = ANY(%s)""",
            [run_ids],
        )
        stranded, later_stamped = cursor.fetchone()
        return stranded, later_stamped


def start_worker(var_dir: Path, concurrency: int) -> subprocess.Popen:
    log = (var_dir / "celery-worker.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "fraudcase", "worker", "--loglevel=INFO",
         f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"],
        cwd=BASE_DIR, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while " ready." not in (var_dir / "celery-worker.log").read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Celery worker did not start; see celery-worker.log")
        time.sleep(0.5)
    return process


# gunicorn's settings: the app and every view module (scikit-learn, plotly) imported once in
# the master before it forks, so no worker pays the imports in its first request (on a busy
# 2-core machine that took longer than gunicorn's 30 s timeout, and the worker was killed).
GUNICORN_CONFIG = """
preload_app = True
timeout = 120


def when_ready(server):
    from django.urls import get_resolver

    get_resolver().url_patterns
"""


def start_gunicorn(var_dir: Path, workers: int) -> tuple[subprocess.Popen, int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = var_dir / "gunicorn.conf.py"
    config.write_text(GUNICORN_CONFIG)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fraudcase.wsgi:application", "-c", str(config),
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--chdir", str(BASE_DIR),
         "--access-logfile", str(var_dir / "gunicorn-access.log"),
         "--access-logformat", "%(m)s %(U)s %(s)s %(D)s",
         "--error-logfile", str(var_dir / "gunicorn-error.log"), "--log-level", "warning"],
        cwd=BASE_DIR, env=dict(os.environ),
    )  # fmt: skip
    wait_until_answering(process, port)
    return process, port


def wait_until_answering(process: subprocess.Popen, port: int, headers: dict | None = None) -> None:
    """Wait (up to 3 minutes) for gunicorn to serve the sign-in page; stop it and raise if not."""
    import http.client

    deadline = time.monotonic() + 180
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/auth/login/", headers=headers or {})
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError("gunicorn did not answer; see gunicorn-error.log")
        time.sleep(0.5)


def stop(process: subprocess.Popen | None, timeout: float = 60) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def describe_commit() -> str:
    def git(*git_args: str) -> str:
        done = subprocess.run(["git", *git_args], cwd=BASE_DIR, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", "--", "cases", "fraudcase", "bench"):
        commit += " (plus uncommitted changes in the work tree)"
    return commit


def verify_audit() -> tuple[int, str]:
    """Anchor the chain's head (what beat does on a schedule), then verify the whole trail."""
    for command in ("anchor_audit", "verify_audit"):
        done = subprocess.run(
            [sys.executable, "manage.py", command], cwd=BASE_DIR, env=dict(os.environ),
            capture_output=True, text=True,
        )  # fmt: skip
    return done.returncode, (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:]


def run(args) -> None:
    sys.path.insert(0, str(BASE_DIR))
    sys.path.insert(0, str(BASE_DIR / "bench"))
    from vardir import prepare_var_dir, use_own_servers

    commit = describe_commit()
    prepare_var_dir(args.var_dir, marker=MARKER, made_by="bench/load.py")
    use_own_servers(args.var_dir)
    os.environ["FRAUDCASE_REQUIRE_OTP_FOR_ANALYSTS"] = "true"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ["SESSION_COOKIE_SECURE"] = "false"  # plain HTTP on loopback
    os.environ["CSRF_COOKIE_SECURE"] = "false"
    os.environ["FRAUDCASE_INGEST_CHUNK_ROWS"] = str(args.chunk_rows)
    # Every analyst signs in from 127.0.0.1: the per-address lockout (50) would add them up.
    os.environ["FRAUDCASE_LOGIN_IP_FAILURE_LIMIT"] = "1000"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from fraudcase import embedded

    worker = server = locust = None
    try:
        call_command("migrate", verbosity=0)
        # DEBUG off: pages name their static files from whitenoise's manifest.
        call_command("collectstatic", interactive=False, verbosity=0)
        print(f"creating {args.users} analysts, uploading ...", file=sys.stderr, flush=True)
        accounts = analysts_create(args.users)
        seed = upload("seed", args.seed_rows, args.part_rows, "lds", flawed=False)
        source = upload("load", args.rows, args.part_rows, "ldm", flawed=True)
        connections.close_all()
        worker = start_worker(args.var_dir, args.worker_concurrency)
        seed_ids = ingest_queue("seed")
        while not runs_finished(seed_ids):
            time.sleep(1)
        print("seed ingested; starting gunicorn ...", file=sys.stderr, flush=True)
        server, port = start_gunicorn(args.var_dir, args.workers)
        stop_file = args.var_dir / "stop-load"
        result_file = args.var_dir / "locust-result.json"
        config = {
            "host": f"http://127.0.0.1:{port}", "users": args.users,
            "spawn_rate": args.spawn_rate, "think_min": args.think_min,
            "think_max": args.think_max, "close_share": args.close_share,
            "accounts": accounts, "stop_file": str(stop_file), "result": str(result_file),
            "max_seconds": args.max_seconds,
        }  # fmt: skip
        config_file = args.var_dir / "locust-config.json"
        config_file.write_text(json.dumps(config))
        config_file.chmod(0o600)
        load_avg_start = os.getloadavg()
        ingest_started = time.time()
        run_ids = ingest_queue("load")
        locust = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--locust-child", str(config_file)],
            cwd=BASE_DIR, env=dict(os.environ),
        )  # fmt: skip
        ingest_ended = None
        load_samples = []
        while locust.poll() is None:
            time.sleep(2)
            load_samples.append(os.getloadavg()[0])
            if ingest_ended is None and runs_finished(run_ids):
                ingest_ended = time.time()
                print(f"ingest finished after {ingest_ended - ingest_started:.0f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            if ingest_ended and time.time() - ingest_started >= args.min_seconds:
                stop_file.touch()
        locust.wait()
        load_avg_end = os.getloadavg()
        while not runs_finished(run_ids):  # load stopped at --max-seconds: let the ingest end
            time.sleep(2)
        ingest_ended = ingest_ended or time.time()
        result = json.loads(result_file.read_text())
        ok, book_lines = books(run_ids, source)
        closed_landed = landed_in_closed_cases(run_ids)
        audit_code, audit_line = verify_audit()
        report(args, commit, result, source, ok, book_lines, closed_landed, audit_code,
               audit_line, ingest_ended - ingest_started, load_avg_start, load_avg_end,
               load_samples, seed)  # fmt: skip
    finally:
        if locust is not None and locust.poll() is None:
            locust.terminate()
        stop(server)
        stop(worker)
        connections.close_all()
        embedded.stop_all(args.var_dir)


def report(args, commit, result, source, ok, book_lines, closed_landed, audit_code, audit_line,
           ingest_seconds, load_start, load_end, samples, seed) -> None:  # fmt: skip
    import platform

    names = result["names"]
    whole = result["whole_run"]
    order = ["sign-in page", "sign in", "second-factor page", "second factor", "queue", "claim next", "open case", "decide", "label",
             "note", "close"]  # fmt: skip
    worst_p95 = max(
        (entry["p95"] for name, entry in names.items() if not name.startswith(("sign", "second"))),
        default=0,
    )
    errors = whole["failures"]
    users = result["users_min"]
    lines = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit}",
        f"- command: python bench/load.py {' '.join(sys.argv[1:])}",
        f"- machine: nproc {os.cpu_count()}, Python {platform.python_version()}; shared with up "
        f"to 8 other sessions: load average (1, 5, 15 min) {', '.join(f'{x:.2f}' for x in load_start)} "
        f"at the start, {', '.join(f'{x:.2f}' for x in load_end)} at the end, 1-min peak "
        f"{max(samples, default=0):.2f} during the run",
        f"- setup: gunicorn {args.workers} sync workers, Celery worker concurrency "
        f"{args.worker_concurrency}, no beat; {args.users} analysts with TOTP, think "
        f"{args.think_min}-{args.think_max} s between clicks, close {args.close_share:.0%} of "
        f"claimed cases; seed {seed['rows']:,} rows ingested before the load; "
        f"FRAUDCASE_INGEST_CHUNK_ROWS={args.chunk_rows}",
        f"- ingest under load: {source['rows']:,} rows (Parquet, {source['objects']} objects) in "
        f"{ingest_seconds:.0f} s ({source['rows'] / ingest_seconds:,.0f} rows/s)",
        f"- load: {result['users_spawned']} users spawned, {users} the fewest running after the "
        f"ramp-up; {result['steady_seconds']:.0f} s steady of {result['seconds']:.0f} s; "
        f"{result['total']['requests']:,} requests after the ramp-up "
        f"({result['total']['rps']:.1f}/s), {whole['requests']:,} in all",
        "",
        "| action | requests | failures | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    whole_names = result["whole_names"]
    for name in [*order, *sorted(set(whole_names) - set(order))]:
        # Sign-ins: the ramp-up's (every user signs in as it starts); the rest: steady phase.
        entry = whole_names[name] if name.startswith(("sign", "second")) else names.get(name)
        if entry:
            lines.append(
                f"| {name} | {entry['requests']:,} | {entry['failures']} | {entry['p50']:.0f} | "
                f"{entry['p95']:.0f} | {entry['max']:.0f} |"
            )
    total = result["total"]
    lines.append(
        f"| all | {total['requests']:,} | {total['failures']} | {total['p50']:.0f} | "
        f"{total['p95']:.0f} | {total['max']:.0f} |"
    )
    lines.append("")
    lines.append(
        "Sign-in rows: the ramp-up's (each user signs in once, as it starts); the other rows "
        "and `all`: the steady phase, once every user had started."
    )
    lines += [
        f"- errors (unexpected status or failed request, whole run with the ramp-up): {errors}"
        + (": " + "; ".join(f"{k} ×{v}" for k, v in whole["errors"].items()) if errors else ""),
        "- refusals shown on pages (domain messages, not errors): "
        + ("; ".join(f"{k} ×{v}" for k, v in whole["refusals"].items()) or "none"),
        *[f"- books: {line}" for line in book_lines],
        f"- books balanced, nothing lost, nothing twice: {'yes' if ok else 'NO'}",
        f"- rows of this ingest stored in a case that was already closed or merged when they "
        f"arrived (a closed case's row the close did not decide, or any row in a merged case): "
        f"{closed_landed[0]}; for comparison, rows with ingested_at > the case's closed_at: "
        f"{closed_landed[1]} (not evidence: closed_at is the close's transaction start, before "
        f"it waited for the ingest's lock)",
        f"- `manage.py anchor_audit` then `verify_audit`: exit {audit_code}: {' '.join(audit_line)}",
        "",
        f"Goals ({args.users} analysts; on this shared 2-core machine): {USERS_GOAL} analysts: "
        f"{'met' if users >= USERS_GOAL else 'NOT met'} ({users} sustained); p95 ≤ {P95_GOAL_MS} ms "
        f"per action: {'met' if worst_p95 <= P95_GOAL_MS else 'NOT met'} (worst {worst_p95:.0f} ms); "
        f"0 errors: {'met' if errors == 0 else 'NOT met'} ({errors}); 0 rows lost: "
        f"{'met' if ok else 'NOT met'}",
    ]  # fmt: skip
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rows", type=int, default=200_000, help="rows ingested under load")
    parser.add_argument("--part-rows", type=int, default=200_000, help="rows per S3 object")
    parser.add_argument("--seed-rows", type=int, default=5_000, help="ingested before the load")
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument("--spawn-rate", type=float, default=1.0, help="users started per second")
    parser.add_argument("--think-min", type=float, default=1.0)
    parser.add_argument("--think-max", type=float, default=5.0)
    parser.add_argument("--close-share", type=float, default=0.5)
    parser.add_argument("--min-seconds", type=float, default=120)
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery processes")
    parser.add_argument("--smoke", action="store_true", help="5 users, 20,000 rows, 60 s")
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR_DIR)
    parser.add_argument("--locust-child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.locust_child:
        locust_child(args.locust_child)
        return
    if args.smoke:
        args.users, args.rows, args.part_rows, args.min_seconds = 5, 20_000, 20_000, 60
        args.seed_rows = min(args.seed_rows, 2000)
    args.var_dir = args.var_dir.resolve()
    run(args)


if __name__ == "__main__":
    main()
