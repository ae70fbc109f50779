"""Reads about ingest runs for the Ingest page and the workers."""

from datetime import timedelta

from django.conf import settings
from django.db.models.functions import Now

from cases.ingest.models import IngestRun

UNFINISHED = (IngestRun.Status.QUEUED, IngestRun.Status.RUNNING)


def recent_ingest_runs(*, limit: int = 50):
    return IngestRun.objects.order_by("-created_at")[:limit]


def ingest_run_lease_left(run_id: int) -> float | None:
    """Seconds until the lease a worker holds on this unfinished run expires, by the
    database's clock (0 when already expired); None when it is finished or nobody holds it."""
    held = (
        IngestRun.objects.filter(pk=run_id, status__in=UNFINISHED, heartbeat_at__isnull=False)
        .exclude(claimed_by="")
        .annotate(db_now=Now())
        .values_list("heartbeat_at", "db_now")
        .first()
    )
    if held is None:
        return None
    heartbeat_at, db_now = held
    expires = heartbeat_at + timedelta(seconds=settings.FRAUDCASE_INGEST_STALE_SECONDS)
    return max(0.0, (expires - db_now).total_seconds())
