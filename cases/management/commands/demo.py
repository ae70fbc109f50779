"""python manage.py demo: the whole app with demo data, in one command.

Starts (or reuses) the embedded servers, migrates, creates the demo accounts, writes demo data
to S3 and ingests it through a real Celery worker, then serves the web app with worker and
beat running. Ctrl-C stops everything this command started.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.models import Q, Sum
from tqdm import tqdm

from cases.ingest.services import FINISHED
from cases.models import IngestRun, Transaction
from fraudcase import embedded

DEMO_USERS = (
    # (username, is_superuser): the analyst works cases; the admin sees ingest in /admin/.
    ("analyst", False),
    ("admin", True),
)
INGEST_TIMEOUT_SECONDS = 1800
DEMO_ENROLMENT_CODE_TTL = timedelta(days=7)


DEMO_EXCHANGE_RATES = Path(__file__).resolve().parents[2] / "demo" / "exchange_rates.csv"


class Command(BaseCommand):
    help = "Run FraudCase with demo data: services, migrations, data, worker, beat and web."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--transactions", type=int, default=30000)
        parser.add_argument("--accounts", type=int, default=4000)
        parser.add_argument("--password", default="fraudcase-demo", help="for the demo accounts")
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")

    def handle(self, *args, **options):
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.log_dir = Path(settings.FRAUDCASE_VAR_DIR) / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._check_port_free(options["host"], options["port"])
        started_services = set(embedded.STARTED_HERE)
        stop_requested = []
        signal.signal(
            signal.SIGTERM, lambda *_: stop_requested.append(True) or self._raise_interrupt()
        )
        # Ctrl-C stops everything even when this process was started with SIGINT ignored (a
        # shell's background job, nohup): Python then installs no KeyboardInterrupt handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self._step("Migrating the database")
            call_command("migrate", interactive=False, verbosity=0)
            self._ensure_demo_users(options["password"])
            admin_enrolment = self._demo_admin_enrolment_code()
            self._ensure_workflow()
            self._start_celery(options["workers"])
            if Transaction.objects.exists():
                self._step("Demo data already loaded: reusing it")
            else:
                call_command(
                    "demo_data",
                    transactions=options["transactions"],
                    accounts=options["accounts"],
                    merchants=max(100, options["accounts"] // 3),
                )
                self._ingest_through_worker()
            url = f"http://{options['host']}:{options['port']}/"
            self._start_web(options["host"], options["port"])
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nFraudCase is ready at {url}\n"
                    f"  analyst login: analyst / {options['password']}\n"
                    f"  admin login:   admin / {options['password']} ({url}admin/)\n"
                    f"{admin_enrolment}"
                    f"  logs: {self.log_dir}\n"
                    "Press Ctrl-C to stop everything this command started."
                )
            )
            self.stdout.flush()
            self._watch_children()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            self._stop_children()
            connections.close_all()
            if started_services:
                embedded.stop_all(settings.FRAUDCASE_VAR_DIR, only=started_services)
            self.stdout.write("Stopped.")

    @staticmethod
    def _raise_interrupt():
        raise KeyboardInterrupt

    def _step(self, message: str) -> None:
        self.stdout.write(f"==> {message}")
        self.stdout.flush()

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex((host, port)) == 0:
                raise CommandError(
                    f"Port {port} on {host} is taken (another FraudCase?). Use --port to pick another."
                )

    def _ensure_workflow(self) -> None:
        """Default queues (the demo analyst in both) and reason codes, set up by the demo admin."""
        from cases.workflow.services.setup import workflow_defaults_ensure

        User = get_user_model()
        workflow_defaults_ensure(
            actor=User.objects.get(username="admin"),
            member_ids=list(User.objects.filter(username="analyst").values_list("pk", flat=True)),
        )
        # The demo's fixed, plausible rates (one per currency, against the euro).
        call_command("load_exchange_rates", str(DEMO_EXCHANGE_RATES), stdout=self.stdout)

    def _ensure_demo_users(self, password: str) -> None:
        from cases.accounts.roles import Role
        from cases.accounts.users import user_create
        from cases.audit.trail import system_actor
        from cases.errors import CaseError

        User = get_user_model()
        for username, is_superuser in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                continue  # an earlier run's account, and whatever was done to it since
            try:
                user_create(
                    actor=system_actor(),
                    username=username,
                    password=password,
                    roles=[Role.ADMIN if is_superuser else Role.ANALYST],
                    is_superuser=is_superuser,
                )
            except CaseError as error:
                raise CommandError(
                    f"Could not create the demo account {username!r}: {error}"
                ) from error
            self._step(f"Created the demo account {username!r}")

    def _demo_admin_enrolment_code(self) -> str:
        """The demo's convenience, set up here only: a fresh two-factor enrolment code for the
        demo admin while it has no authenticator (issued by the system actor, audited, shown
        in the ready message). Elsewhere codes come from an admin or issue_enrolment_code."""
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from cases.accounts.enrolment import otp_enrolment_issue
        from cases.audit.trail import system_actor

        admin = get_user_model().objects.get(username="admin")
        if TOTPDevice.objects.filter(user=admin, confirmed=True).exists():
            return ""
        issued = otp_enrolment_issue(
            actor=system_actor(), user_id=admin.pk, ttl=DEMO_ENROLMENT_CODE_TTL
        )
        return (
            f"  admin two-factor: enter the enrolment code {issued.code} at the first sign-in,\n"
            "    then scan the QR code with an authenticator app (a new code each run until then)\n"
        )

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        self.children.append((name, process))
        return process

    def _start_celery(self, workers: int) -> None:
        self._step(f"Starting the Celery worker ({workers} processes) and beat")
        celery = [sys.executable, "-m", "celery", "-A", "fraudcase"]
        self._spawn("worker", [*celery, "worker", "--loglevel=INFO", f"--concurrency={workers}"])
        schedule = Path(settings.FRAUDCASE_VAR_DIR) / "celerybeat-schedule"
        self._spawn("beat", [*celery, "beat", "--loglevel=INFO", f"--schedule={schedule}"])

    def _ingest_through_worker(self) -> None:
        from cases import dispatch

        self._step("Ingesting the demo files through the Celery worker")
        dispatch.queue(dispatch.SCAN_INBOX)
        # Flagged transactions, the curation records about their IPs and a shadow model's
        # scores: every inbox prefix.
        runs = IngestRun.objects.filter(bucket=settings.FRAUDCASE_INBOX_BUCKET).filter(
            Q(key__startswith="flagged/")
            | Q(key__startswith="curation/")
            | Q(key__startswith="shadow/")
        )
        deadline = time.monotonic() + INGEST_TIMEOUT_SECONDS
        with tqdm(total=None, unit="row", desc="ingest", file=self.stderr._out) as bar:
            while time.monotonic() < deadline:
                self._check_children_alive()
                done = runs.aggregate(total=Sum("rows_read"))["total"] or 0
                bar.update(done - bar.n)
                if runs.exists() and not runs.exclude(status__in=FINISHED).exists():
                    break
                time.sleep(0.5)
            else:
                raise CommandError(
                    "The demo ingest did not finish in time; see var/logs/worker.log."
                )
        for run in runs.order_by("key"):
            self.stdout.write(
                f"    {run.key}: {run.status}, loaded {run.rows_loaded}, duplicates "
                f"{run.rows_duplicate}, quarantined {run.rows_quarantined}"
            )

    def _start_web(self, host: str, port: int) -> None:
        self._step(f"Starting the web server on {host}:{port}")
        self._spawn(
            "web",
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"{host}:{port}",
                "--noreload",
                "--skip-checks",
            ],
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_children_alive()
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex((host, port)) == 0:
                    return
            time.sleep(0.2)
        raise CommandError("The web server did not start; see var/logs/web.log.")

    def _check_children_alive(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise CommandError(
                    f"The {name} process stopped (exit {process.returncode}):\n{tail}"
                )

    def _watch_children(self) -> None:
        while True:
            self._check_children_alive()
            time.sleep(1)

    def _stop_children(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in self.children:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
