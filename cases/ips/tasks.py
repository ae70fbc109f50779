"""Celery tasks placing source IPs and computing fraud rings (thin wrappers over services).

Found by the Celery app's autodiscovery (fraudcase/celery.py).
"""

from __future__ import annotations

from celery import shared_task

from cases.ips.places import ips_enrich, ips_enrich_pending
from cases.ips.services import rings_compute
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


# A snapshot in one transaction: a retry or a second run writes a new one and drops the old.
@shared_task(**recomputable(soft_seconds=1800))
def compute_rings(requested_by_name: str = "") -> int | None:
    """Beat, or a lead on the rings page: recompute the fraud rings; returns the snapshot id."""
    snapshot = rings_compute(requested_by_name=requested_by_name)
    return snapshot.pk if snapshot else None
