"""Shared fixtures: the real embedded S3 server, unique buckets, contract rows, a Celery worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
from django.conf import settings
from django.db import connection, transaction

from cases.s3 import ensure_bucket, s3_client

BASE_DIR = Path(__file__).resolve().parent
# Playwright's sync API keeps an event loop in the test thread; Django would then refuse the
# test's own database calls as "async unsafe" although they are plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session", autouse=True)
def _cache_empty_at_start():
    """The cache is the embedded Redis (database 1), which outlives test runs: start empty."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="session")
def s3():
    return s3_client()


@pytest.fixture
def bucket(s3):
    """A fresh bucket on the embedded S3 server for one test."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    ensure_bucket(s3, name)
    return name


def built_once_per_module(build, django_db_blocker):
    """For a module-scoped fixture (yield from it): the rows build() makes, made once for the
    module's tests instead of once per test, for a matrix whose every test starts from the
    same rows (routes x roles). A rebuilt world per test was a third of the suite's time.

    build() runs in a transaction left open for the module and rolled back after its last
    test. Each test runs in a savepoint inside it (pytest-django's db fixture, as always),
    rolled back after the test: every test starts from exactly the rows build() left, whatever
    the test before it changed, and now() is build()'s transaction time, as when the test's
    own transaction built them. Pair it with fresh_copy() per test. Not for transactional
    tests (they need no transaction open), nor for worlds kept in S3 that tests change (S3 is
    not rolled back)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer._from_testcase = True  # durable blocks nest in it as in a TestCase's own
        outer.__enter__()
        try:
            made = build()
        except BaseException:
            outer.__exit__(*sys.exc_info())
            raise
    try:
        yield made
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def fresh_copy(built):
    """A test's own copy of built_once_per_module's objects (model instances a test changes
    in memory stay its own) and an empty cache (cached figures of a test's rolled-back changes
    do not reach the next test), as when the world was built for that test alone."""
    import copy

    from django.core.cache import cache

    cache.clear()
    return copy.deepcopy(built)


def unit_vector(seed: int, dim: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vector = rng.normal(size=dim or settings.FRAUDCASE_EMBEDDING_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def contract_row(index: int = 0, **overrides) -> dict:
    """A valid flagged transaction; overrides replace or (with value ...) remove fields."""
    row = {
        "transaction_id": f"tx_{index:08d}",
        "account_id": f"acc_{index % 50:05d}",
        "occurred_at": datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=index),
        "amount": Decimal("12.50") + index,
        "currency": "EUR",
        "merchant": f"Merchant {index % 7}",
        "merchant_category": "5411",
        "channel": "ecommerce",
        "country": "DE",
        "source_ip": f"81.2.69.{index % 250 + 1}",
        "device_id": f"dev_{index % 30:04x}",
        "similarity_score": round(0.5 + (index % 50) / 100, 4),
        "model_version": "detector-2026.11.2",
        "outcome": ("approve", "investigate", "block")[index % 3],
        "embedding": unit_vector(index),
        "features": {"log_amount": 1.5 + index % 3, "hour_sin": 0.25},
    }
    return with_overrides(row, overrides)


def with_overrides(row: dict, overrides: dict) -> dict:
    """row with each override set; an override of ... (Ellipsis) removes the column."""
    for name, value in overrides.items():
        if value is ...:
            row.pop(name, None)
        else:
            row[name] = value
    return row


def put_file(s3, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def database_url_for_subprocess() -> str:
    """The configured database URL pointed at the database this test runs against."""
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="fraudcase.settings_test",
        DATABASE_URL=database_url_for_subprocess(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        FRAUDCASE_S3_ENDPOINT_URL=settings.FRAUDCASE_S3_ENDPOINT_URL,
        AWS_ACCESS_KEY_ID=settings.FRAUDCASE_S3_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=settings.FRAUDCASE_S3_SECRET_ACCESS_KEY,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class CeleryWorker:
    """A real `celery worker` process on the test broker and test database."""

    def __init__(self, log_path: Path, **env: str) -> None:
        self.log_path = log_path
        self.env = subprocess_env(**env)
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fraudcase", "worker", "--pool=solo",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # Tests read the worker's log ("Retry in", "succeeded"): a worker that never says
        # it is ready has lost its log (as when logging is configured twice), so fail here.
        # (A worker may exit on purpose before that: tests that inject a fault check that.)
        wait_until(
            lambda: " ready." in self.log() or self.process.poll() is not None, timeout=60,
            message=lambda: f"the worker to log that it is ready; its log:\n{self.log()[-3000:]}",
        )  # fmt: skip
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, like a node lost mid-task."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def celery_worker_factory(tmp_path):
    """Start real Celery workers; every one is stopped at the end of the test."""
    from cases import dispatch
    from fraudcase.celery import app

    app.control.purge()
    for task_name in dispatch.TASK_NAMES:  # their messages are gone: so is their pending mark
        dispatch.pending_clear(task_name)
    workers: list[CeleryWorker] = []

    def start(**env: str) -> CeleryWorker:
        worker = CeleryWorker(tmp_path / f"worker-{len(workers)}.log", **env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message="condition"):
    """Poll predicate until true; message may be a callable, evaluated only on time-out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {message() if callable(message) else message}"
    )


@pytest.fixture(autouse=True)
def _audit_trail_emptied_before_flush(request):
    """A transactional test ends with one TRUNCATE of every table, which the audit trail's
    append-only trigger refuses while the trail holds events: empty it first, as its owner."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or bool(
        marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so it flushes after this
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE cases_auditevent DISABLE TRIGGER USER")
        try:
            cursor.execute("DELETE FROM cases_auditevent")
        finally:
            cursor.execute("ALTER TABLE cases_auditevent ENABLE TRIGGER USER")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's Chromium driven by Playwright (Playwright cannot download its own here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    """A fresh browser context (own cookies) at a 1280x800 window, 10 s default timeout."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in_browser(
    page, live_server, username: str, password: str = "a-long-test-password"
) -> None:
    """Sign in through the real login form."""
    page.goto(f"{live_server.url}/auth/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def signed_in(client, user, *, second_factor: bool = True):
    """client (a Django test client) signed in as user, past the second factor unless
    second_factor is False: a confirmed TOTP device bound to the session, as after the 2FA page."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    if second_factor:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def client_for(user):
    """A new test client signed in as user, past the second factor where the role needs one."""
    from django.test import Client

    from cases.accounts.sign_in import otp_required_for

    return signed_in(Client(), user, second_factor=otp_required_for(user))


def sign_in_lead_browser(page, live_server, lead) -> None:
    """Password, then the current TOTP code of a new device of the lead, through the real forms."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=lead, name="phone", confirmed=True)
    sign_in_browser(page, live_server, lead.username)
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    page.get_by_label("6-digit code from your authenticator app").fill(code)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state("networkidle")


class Receiver:
    """A real HTTP server on a free loopback port (a webhook receiver); answers with the
    scripted status codes, then 200."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.requests: list[tuple] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))  # case-insensitive
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def documents(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(*statuses: int) -> Receiver:
        made.append(Receiver(list(statuses)))
        return made[-1]

    yield start
    for server in made:
        server.close()
