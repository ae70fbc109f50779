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
    parse_case_reference,
)
from cases.models.ingest import IngestRun, QuarantinedRow
from cases.models.ip import CurationRecord, IpEnrichment, IpKind
from cases.models.labels import (
    EFFECTIVE_LABEL_STATUSES,
    HoldReason,
    LabelExportAction,
    LabelExportBatch,
    LabelOutbox,
    LabelStatus,
    LabelVersion,
)
from cases.models.rings import Ring, RingMember, RingSnapshot
from cases.models.sign_in import OtpEnrolmentCode, UnknownUsernameFailures
from cases.models.workflow import Attachment, Note, Queue, ReasonCode, Tag

__all__ = [
    "EFFECTIVE_LABEL_STATUSES",
    "FINISHED_CASE_STATUSES",
    "REFERENCE_PREFIX",
    "Attachment",
    "AuditAction",
    "AuditEvent",
    "Case",
    "HoldReason",
    "CaseStatus",
    "CurationRecord",
    "IngestRun",
    "IpEnrichment",
    "IpKind",
    "Label",
    "LabelExportAction",
    "LabelExportBatch",
    "LabelOutbox",
    "LabelStatus",
    "LabelVersion",
    "Note",
    "OtpEnrolmentCode",
    "Outcome",
    "QuarantinedRow",
    "Queue",
    "ReasonCode",
    "Resolution",
    "Ring",
    "RingMember",
    "RingSnapshot",
    "Tag",
    "Transaction",
    "UnknownUsernameFailures",
    "parse_case_reference",
]
