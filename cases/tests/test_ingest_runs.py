"""An ingest run's life: one worker at a time by a lease (no session lock, so PgBouncer's
transaction pooling works), a heartbeat per chunk, a cap on attempts, S3 outages retried by
beat, and the command's exit code. Real database, real S3, real subprocesses; no mocks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from cases.audit.trail import system_actor
from cases.fileformats import encode_rows
from cases.ingest import lease, outages
from cases.ingest import services as ingest_services
from cases.ingest.selectors import ingest_run_lease_left
from cases.models import AuditAction, AuditEvent, IngestRun, Transaction
from conftest import BASE_DIR, client_for, contract_row, put_file, subprocess_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def registered(s3, bucket: str, key: str, rows: int, **overrides) -> IngestRun:
    put_file(
        s3, bucket, key, encode_rows([contract_row(i, **overrides) for i in range(rows)], "csv")
    )
    [s3_object] = list(ingest_services.list_objects(bucket=bucket, prefix=key))
    return ingest_services.ingest_run_register(s3_object=s3_object, triggered_by="test")[0]


def in_thread(function):
    """Run function on a connection of its own; its result (or exception) when joined."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = function()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        return cursor.fetchone()[0]


# --- the lease (PgBouncer) -----------------------------------------------------------------


def test_the_run_is_held_by_a_lease_that_survives_a_change_of_server_connection(
    s3, bucket, settings
):
    """Behind a transaction-pooling PgBouncer each transaction may get another server
    connection: nothing may live in the session. Here the worker's connection is closed
    between two chunks; a second worker must still find the run held."""
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 100
    run = registered(s3, bucket, "flagged/a.csv", 500)
    seen = []

    def between_chunks(current: IngestRun) -> None:
        if seen:
            return
        seen.append(advisory_locks_held())
        connection.close()  # the next transaction comes on another server connection
        other = in_thread(lambda: ingest_services.ingest_run_execute(run_id=run.pk))
        seen.append((other.status, other.attempts, other.rows_read))

    done = ingest_services.ingest_run_execute(run_id=run.pk, progress=between_chunks)

    assert seen[0] == 0, "a session-level lock does not survive transaction pooling"
    assert seen[1] == (IngestRun.Status.RUNNING, 1, 100), "a second worker took a held run"
    assert (done.status, done.attempts, done.rows_read, done.rows_loaded) == (
        IngestRun.Status.SUCCEEDED, 1, 500, 500,
    )  # fmt: skip
    assert done.claimed_by == ""


def test_a_lease_whose_holder_stopped_is_taken_over_and_the_old_holder_commits_nothing(
    s3, bucket, settings
):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 100
    settings.FRAUDCASE_INGEST_STALE_SECONDS = 1
    run = registered(s3, bucket, "flagged/a.csv", 500)
    taken_over = []

    def stalls_after_the_first_chunk(current: IngestRun) -> None:
        if not taken_over:
            time.sleep(1.5)  # no heartbeat for longer than the stale limit
            taken_over.append(in_thread(lambda: ingest_services.ingest_run_execute(run_id=run.pk)))

    first = ingest_services.ingest_run_execute(run_id=run.pk, progress=stalls_after_the_first_chunk)

    assert (taken_over[0].status, taken_over[0].attempts) == (IngestRun.Status.SUCCEEDED, 2)
    first.refresh_from_db()
    # Counted once: the stalled worker's next chunk was rolled back (its lease was gone).
    assert (first.rows_read, first.rows_loaded, first.rows_duplicate) == (500, 500, 0)
    assert Transaction.objects.count() == 500


def test_a_run_whose_worker_died_after_claiming_is_free_once_its_heartbeat_is_stale(
    s3, bucket, settings
):
    settings.FRAUDCASE_INGEST_STALE_SECONDS = 1
    run = registered(s3, bucket, "flagged/a.csv", 20)
    assert lease.run_claim(run.pk).token  # a worker claims it, then its node is lost

    held = ingest_services.ingest_run_execute(run_id=run.pk)
    assert (held.status, held.attempts, held.rows_read) == (IngestRun.Status.RUNNING, 1, 0)
    # What a redelivered task waits before trying again (ingest_object retries then).
    assert 0 < ingest_run_lease_left(run.pk) <= 1
    time.sleep(1.2)
    assert ingest_run_lease_left(run.pk) == 0
    done = ingest_services.ingest_run_execute(run_id=run.pk)

    assert (done.status, done.attempts, done.rows_loaded) == (IngestRun.Status.SUCCEEDED, 2, 20)
    assert ingest_run_lease_left(run.pk) is None


# --- heartbeat and staleness ---------------------------------------------------------------


def test_a_long_run_that_keeps_committing_is_never_stale_one_that_stopped_is(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 100
    settings.FRAUDCASE_INGEST_STALE_SECONDS = 2
    run = registered(s3, bucket, "flagged/long.csv", 1000)
    scans = []

    def slow_chunks(current: IngestRun) -> None:
        if current.rows_read in (700, 900):  # 2.1 s and more after the run started
            scans.append(ingest_services.inbox_scan(bucket=bucket))
        time.sleep(0.3)

    done = ingest_services.ingest_run_execute(run_id=run.pk, progress=slow_chunks)

    assert done.status == IngestRun.Status.SUCCEEDED and done.attempts == 1
    assert (done.finished_at - done.started_at).total_seconds() > 2
    assert scans == [[], []], "a run that was progressing was sent to a second worker"

    stopped = registered(s3, bucket, "flagged/stopped.csv", 10)
    assert lease.run_claim(stopped.pk).token  # claimed, then no chunk ever commits
    assert ingest_services.inbox_scan(bucket=bucket) == []
    time.sleep(2.2)
    assert ingest_services.inbox_scan(bucket=bucket) == [stopped.pk]


# --- the attempts cap ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_file_that_kills_its_worker_each_time_fails_after_the_cap_with_the_reason(
    s3, bucket, settings
):
    """Real deaths: `manage.py ingest` killed with SIGKILL mid-file, twice (the cap). The
    next attempt on this host takes the dead process's lease at once (no stale wait)."""
    run = registered(s3, bucket, "flagged/poison.csv", 30_000, embedding=...)
    env = subprocess_env(FRAUDCASE_INGEST_MAX_ATTEMPTS="2", FRAUDCASE_INGEST_CHUNK_ROWS="200")
    command = [sys.executable, "manage.py", "ingest", f"s3://{bucket}/flagged/", "--no-progress"]
    for attempt in (1, 2):
        before = IngestRun.objects.get(pk=run.pk).rows_read
        worker = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)  # fmt: skip
        committed = IngestRun.objects.filter(pk=run.pk, rows_read__gt=before)
        try:
            wait_until(
                committed.exists, timeout=90, interval=0.02,
                message=f"attempt {attempt} to commit a chunk",
            )  # fmt: skip
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
    killed = IngestRun.objects.get(pk=run.pk)
    assert (killed.status, killed.attempts) == (IngestRun.Status.RUNNING, 2)
    assert killed.rows_read < 30_000, "the kill must land mid-file"

    settings.FRAUDCASE_INGEST_MAX_ATTEMPTS = 2
    with pytest.raises(CommandError, match="1 of 1 object"):
        call_command("ingest", f"s3://{bucket}/flagged/", "--no-progress")

    failed = IngestRun.objects.get(pk=run.pk)
    assert (failed.status, failed.attempts) == (IngestRun.Status.FAILED, 2)
    assert failed.error.startswith("gave up after 2 attempts (the cap): none of them finished")
    assert f"The {killed.rows_read} rows committed are kept" in failed.error
    assert Transaction.objects.count() == failed.rows_loaded == killed.rows_read
    page = client_for(make_viewer()).get(reverse("ingest-runs")).content.decode()
    assert "gave up after 2 attempts (the cap)" in page
    assert "<td>2 of 2</td>" in page


def make_viewer():
    from cases.tests.workflow_fixtures import make_user

    return make_user("ana", "analyst")


def test_an_operators_re_run_grants_a_new_allowance_of_attempts(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_MAX_ATTEMPTS = 1
    settings.FRAUDCASE_INGEST_STALE_SECONDS = 1
    run = registered(s3, bucket, "flagged/a.csv", 5)
    assert lease.run_claim(run.pk).token  # its one attempt dies
    time.sleep(1.2)
    spent = ingest_services.ingest_run_execute(run_id=run.pk)
    assert spent.status == IngestRun.Status.FAILED and "gave up after 1 attempts" in spent.error

    from cases.tests.workflow_fixtures import make_user

    ingest_services.ingest_run_rerun(actor=make_user("adm", "admin"), run_id=run.pk)
    done = ingest_services.ingest_run_execute(run_id=run.pk)

    assert (done.status, done.attempts, done.rows_loaded) == (IngestRun.Status.SUCCEEDED, 2, 5)


# --- S3 outages ----------------------------------------------------------------------------


def closed_port_url() -> str:
    """An address on this machine where nothing listens: S3 out of reach."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_ingest_that_failed_because_s3_was_unreachable_is_retried_by_beat(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_RETRY_BACKOFF = 2
    run = registered(s3, bucket, "flagged/a.csv", 30)
    real_endpoint = settings.FRAUDCASE_S3_ENDPOINT_URL

    settings.FRAUDCASE_S3_ENDPOINT_URL = closed_port_url()
    failed = ingest_services.ingest_run_execute(run_id=run.pk)

    assert failed.status == IngestRun.Status.FAILED
    assert failed.error.startswith("S3 was unreachable (")
    assert "retried automatically in 2 s (9 attempt(s) left)" in failed.error
    assert failed.retry_at is not None and failed.claimed_by == ""
    assert ingest_services.ingest_runs_retry_due() == [], "queued again before its backoff"

    settings.FRAUDCASE_S3_ENDPOINT_URL = real_endpoint  # S3 is back
    wait_until(lambda: ingest_services.ingest_runs_retry_due() == [run.pk], timeout=10)
    queued = IngestRun.objects.get(pk=run.pk)
    assert (queued.status, queued.retry_at) == (IngestRun.Status.QUEUED, None)
    done = ingest_services.ingest_run_execute(run_id=run.pk)

    assert (done.status, done.attempts, done.rows_loaded, done.error) == (
        IngestRun.Status.SUCCEEDED, 2, 30, "",
    )  # fmt: skip
    rerun = AuditEvent.objects.get(action=AuditAction.INGEST_RERUN)
    assert rerun.actor_id == system_actor().pk
    assert ingest_services.ingest_runs_retry_due() == []


def test_an_s3_outage_past_the_attempts_cap_waits_for_an_operator(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_MAX_ATTEMPTS = 1
    settings.FRAUDCASE_INGEST_RETRY_BACKOFF = 0
    run = registered(s3, bucket, "flagged/a.csv", 3)
    settings.FRAUDCASE_S3_ENDPOINT_URL = closed_port_url()

    failed = ingest_services.ingest_run_execute(run_id=run.pk)

    assert failed.status == IngestRun.Status.FAILED and failed.retry_at is None
    assert "gave up after 1 attempts (the cap): re-run it once S3 is back" in failed.error
    assert ingest_services.ingest_runs_retry_due() == []


def test_the_retry_backoff_doubles_up_to_its_max(settings):
    settings.FRAUDCASE_INGEST_RETRY_BACKOFF = 60
    settings.FRAUDCASE_INGEST_RETRY_BACKOFF_MAX = 3600
    delays = [outages.retry_delay(n).total_seconds() for n in range(1, 10)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


# --- the command's exit code ---------------------------------------------------------------


def test_the_ingest_command_fails_again_on_a_re_run_that_skips_a_failed_object(s3, bucket):
    put_file(s3, bucket, "flagged/good.csv", encode_rows([contract_row(0)], "csv"))
    put_file(s3, bucket, "flagged/bad.csv.gz", b"plain text, not gzip")
    uri = f"s3://{bucket}/flagged/"

    with pytest.raises(CommandError, match="1 of 2 object"):
        call_command("ingest", uri, "--no-progress")
    with pytest.raises(CommandError, match="1 of 2 object"):
        call_command("ingest", uri, "--no-progress")
    with pytest.raises(CommandError, match="1 of 2 object"):
        call_command("ingest", uri, "--async")
    call_command("ingest", f"s3://{bucket}/flagged/good.csv", "--no-progress")  # exits 0
