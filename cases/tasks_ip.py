"""Celery tasks placing source IPs (thin wrappers over cases/services/ip_enrichment.py).

Imported by cases/tasks.py so the worker registers them.
"""

from __future__ import annotations

from celery import shared_task

from cases.services.ip_enrichment import ips_enrich, ips_enrich_pending
from cases.task_options import recomputable


# Cached and upserted per IP: a retry or a second worker only redoes lookups.
@shared_task(**recomputable(soft_seconds=600))
def enrich_ips(ips: list[str]) -> int:
    """Place these IPs (queued by ingest after each chunk commits)."""
    return ips_enrich(ips)


@shared_task(**recomputable(soft_seconds=1800))
def sweep_ip_enrichment() -> int:
    """Beat: place IPs never placed, or placed by another GeoIP database than the current one."""
    return ips_enrich_pending()
