"""The lease on an ingest run: one worker at a time, freed when its holder stops progressing.

A lease is two columns of the run's row (claimed_by, heartbeat_at), not a session-level
advisory lock: every step is a short transaction of its own, so it works behind a
transaction-pooling PgBouncer, where a session lock is taken on one server connection and
its unlock may run on another (or never, the connection going back to the pool).

- A claim takes the run's row FOR UPDATE SKIP LOCKED (two claimers never wait on each other)
  and takes the run when nobody holds it, its holder's heartbeat is older than
  FRAUDCASE_INGEST_STALE_SECONDS (the holder died, or stopped progressing), or its holder was
  a process of this host that is gone (a worker killed mid-file: no wait for the heartbeat).
- Each committed chunk moves the heartbeat in the chunk's own transaction, and only while
  the claim is still this worker's: a worker whose lease was taken over has its chunk rolled
  back (LeaseLost), so two workers never both count the same rows.
- Times are the database's (now()), never a host's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Coalesce, Now

from cases.holders import holder_gone_from_this_host, new_token
from cases.ingest.models import IngestRun

FINISHED = (IngestRun.Status.SUCCEEDED, IngestRun.Status.FAILED)


class LeaseLost(Exception):
    """Another worker took the run over (this one had stopped progressing): stop, commit nothing."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim found. token: this worker's lease, None when the run was not taken
    (finished, held by a live lease, or spent: attempts_spent says the cap was reached)."""

    run: IngestRun
    token: str | None
    attempts_spent: bool = False


def stale_limit() -> timedelta:
    return timedelta(seconds=settings.FRAUDCASE_INGEST_STALE_SECONDS)


def _cutoff():
    """now() minus the stale limit, in the database."""
    return ExpressionWrapper(Now() - stale_limit(), output_field=DateTimeField())


def stale() -> Q:
    """Runs whose last sign of progress (claim, chunk, queued) is older than the stale limit;
    a run never claimed counts from its registration."""
    return Q(heartbeat_at__lt=_cutoff()) | Q(heartbeat_at__isnull=True, created_at__lt=_cutoff())


def attempts_left(run: IngestRun) -> int:
    """Attempts the cap still allows (an operator's re-run starts a new allowance)."""
    used = run.attempts - run.attempts_at_rerun
    return max(0, settings.FRAUDCASE_INGEST_MAX_ATTEMPTS - used)


def run_claim(run_id: int) -> Claim:
    """Take the run for this worker when it is free and attempts are left; count the attempt."""
    with transaction.atomic():
        run = (
            IngestRun.objects.select_for_update(skip_locked=True)
            .annotate(cutoff=_cutoff())
            .filter(pk=run_id)
            .first()
        )
        if run is None:  # another worker is claiming it at this very moment
            return Claim(IngestRun.objects.get(pk=run_id), None)
        expired = run.heartbeat_at is None or run.heartbeat_at < run.cutoff
        free = not run.claimed_by or expired or holder_gone_from_this_host(run.claimed_by)
        if run.status in FINISHED or not free:
            return Claim(run, None)
        if attempts_left(run) == 0:
            return Claim(run, None, attempts_spent=True)
        token = new_token()
        IngestRun.objects.filter(pk=run_id).update(
            status=IngestRun.Status.RUNNING,
            attempts=run.attempts + 1,
            started_at=Coalesce("started_at", Now()),
            error="",
            retry_at=None,
            claimed_by=token,
            heartbeat_at=Now(),
            updated_at=Now(),
        )
    run.refresh_from_db()
    return Claim(run, token)


def run_checkpoint(run_id: int, token: str | None, /, **changes) -> None:
    """Write the run's progress and move its heartbeat, in the caller's transaction.

    With a lease token, only while the lease is still this worker's (LeaseLost otherwise, which
    rolls the caller's chunk back); None for runs no other worker can see (API intake).
    """
    runs = IngestRun.objects.filter(pk=run_id)
    if token is not None:
        runs = runs.filter(claimed_by=token)
    if runs.update(heartbeat_at=Now(), updated_at=Now(), **changes) != 1 and token:
        raise LeaseLost(f"ingest run {run_id}: another worker took it over")


def run_books(
    run_id: int,
    token: str | None,
    /,
    *,
    read: int,
    loaded: int,
    duplicates: int,
    quarantined: int,
    **changes,
) -> None:
    """run_checkpoint that also adds one chunk to the run's books (read = loaded + duplicates
    + quarantined, which the table's check constraint holds every run to)."""
    run_checkpoint(
        run_id, token,
        rows_read=F("rows_read") + read, rows_loaded=F("rows_loaded") + loaded,
        rows_duplicate=F("rows_duplicate") + duplicates,
        rows_quarantined=F("rows_quarantined") + quarantined, **changes,
    )  # fmt: skip


def run_release(run_id: int, claimed_by: str) -> None:
    """Give the lease back (an attempt ended in an error that a retry may heal): the retry
    can take it at once instead of waiting for the heartbeat to go stale."""
    IngestRun.objects.filter(pk=run_id, claimed_by=claimed_by).update(
        claimed_by="", updated_at=Now()
    )
