"""Reads over label versions and the export outbox: backlog, held labels, batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from cases.models import LabelExportAction, LabelExportBatch, LabelOutbox, LabelStatus, LabelVersion


def exportable_outbox():
    """Outbox rows waiting to go out: retractions, and exports of pending versions.

    Held, quarantined, rejected or superseded versions wait (or never go).
    """
    return LabelOutbox.objects.filter(batch__isnull=True).filter(
        Q(action=LabelExportAction.RETRACT)
        | Q(action=LabelExportAction.EXPORT, label_version__status=LabelStatus.PENDING)
    )


@dataclass(frozen=True, slots=True)
class ExportBacklog:
    """Labels not yet in the retraining bucket: waiting to go out, and held for a lead."""

    pending: int
    oldest_pending_at: datetime | None
    held: int
    quarantined: int
    unfinished_batches: int

    @property
    def oldest_pending_age(self) -> timedelta | None:
        if self.oldest_pending_at is None:
            return None
        return timezone.now() - self.oldest_pending_at


def label_export_backlog() -> ExportBacklog:
    """Counts for the admin and monitoring: pending = outbox rows ready to export (including
    those claimed by a batch not yet confirmed), with the age of the oldest."""
    waiting = exportable_outbox().aggregate(count=Count("id"), oldest=Min("created_at"))
    in_flight = LabelExportBatch.objects.filter(state=LabelExportBatch.State.WRITING).aggregate(
        count=Count("entries"),
        oldest=Min("entries__created_at"),
        batches=Count("id", distinct=True),
    )
    oldest = [when for when in (waiting["oldest"], in_flight["oldest"]) if when is not None]
    statuses = dict(
        LabelVersion.objects.filter(status__in=[LabelStatus.HELD, LabelStatus.QUARANTINED])
        .values_list("status")
        .annotate(count=Count("id"))
    )
    return ExportBacklog(
        pending=waiting["count"] + in_flight["count"],
        oldest_pending_at=min(oldest) if oldest else None,
        held=statuses.get(LabelStatus.HELD, 0),
        quarantined=statuses.get(LabelStatus.QUARANTINED, 0),
        unfinished_batches=in_flight["batches"],
    )


def held_labels(limit: int = 200):
    """Held label versions, oldest first, with what a lead needs to judge them."""
    return (
        LabelVersion.objects.filter(status=LabelStatus.HELD)
        .select_related("transaction", "case", "analyst", "supersedes")
        .order_by("decided_at", "id")[:limit]
    )


def recent_label_batches(limit: int = 20):
    """The newest export batches, for a lead choosing one to quarantine."""
    return LabelExportBatch.objects.order_by("-id")[:limit]


def label_held_for(transaction_id: str) -> str:
    """Why the transaction's newest label version is held ("" when it is not held)."""
    newest = (
        LabelVersion.objects.filter(transaction__transaction_id=transaction_id)
        .order_by("-version")
        .first()
    )
    if newest is None or newest.status != LabelStatus.HELD:
        return ""
    return newest.get_hold_reason_display().lower()
