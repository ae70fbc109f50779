"""Reads about ingest runs for the Ingest page."""

from cases.ingest.models import IngestRun

UNFINISHED = (IngestRun.Status.QUEUED, IngestRun.Status.RUNNING)


def recent_ingest_runs(*, limit: int = 50):
    return IngestRun.objects.order_by("-created_at")[:limit]
