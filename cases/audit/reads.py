"""Reads of case data in the audit trail: who saw or took away which case.

One event per page view (not per row shown); every export and attachment download. The
viewer was already let through by cases.policies; these only record.
"""

from __future__ import annotations

from cases.audit.trail import audit_record
from cases.locking import retry_on_conflict
from cases.models import Attachment, AuditAction, Case


def case_viewed(*, actor, case: Case) -> None:
    # Its own transaction on a page view: a deadlock on the audit chain (the victim may be this
    # read) is retried here, as the services' writes are, instead of answering 500.
    retry_on_conflict(
        lambda: audit_record(actor=actor, action=AuditAction.CASE_VIEWED, obj=case),
        what="case_viewed",
    )


def case_exported(*, actor, case: Case, export_format: str, rows: int) -> None:
    """A PDF report or CSV of the case left FraudCase."""
    audit_record(
        actor=actor,
        action=AuditAction.CASE_EXPORTED,
        obj=case,
        after={"format": export_format, "transactions": rows},
    )


def attachment_downloaded(*, actor, case: Case, attachment: Attachment) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.ATTACHMENT_DOWNLOADED,
        obj=case,
        after={
            "attachment_id": attachment.pk,
            "filename": attachment.filename,
            "sha256": attachment.sha256,
        },
    )
