"""Models of the cases app, one module per part of the domain."""

from cases.models.audit import AuditAction, AuditEvent
from cases.models.case import (
    FINISHED_CASE_STATUSES,
    REFERENCE_PREFIX,
    Case,
    CaseStatus,
    Label,
    Outcome,
    Resolution,
    Transaction,
)
from cases.models.ingest import IngestRun, QuarantinedRow
from cases.models.workflow import Attachment, Note, Queue, ReasonCode, Tag

__all__ = [
    "FINISHED_CASE_STATUSES",
    "REFERENCE_PREFIX",
    "Attachment",
    "AuditAction",
    "AuditEvent",
    "Case",
    "CaseStatus",
    "IngestRun",
    "Label",
    "Note",
    "Outcome",
    "QuarantinedRow",
    "Queue",
    "ReasonCode",
    "Resolution",
    "Tag",
    "Transaction",
]
