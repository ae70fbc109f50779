"""Every model of the cases app, for Django's app registry and for imports.

Case and Transaction live here (cases/models/case.py); every other model lives with its
feature (cases/<feature>/models.py) and is handed on from here. Tables keep the app label
"cases" and their names, wherever the class is defined.
"""

from cases.accounts.models import ApiToken, OtpEnrolmentCode, UnknownUsernameFailures
from cases.api.models import IdempotentRequest
from cases.audit.models import AuditAction, AuditEvent
from cases.currency.models import ExchangeRate
from cases.ingest.models import InboxCursor, IngestRun, QuarantinedRow
from cases.ips.models import (
    CurationRecord,
    IpEnrichment,
    IpKind,
    Ring,
    RingMember,
    RingSnapshot,
)
from cases.labels.models import (
    EFFECTIVE_LABEL_STATUSES,
    HoldReason,
    LabelExportAction,
    LabelExportBatch,
    LabelOutbox,
    LabelSource,
    LabelStatus,
    LabelVersion,
)
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
from cases.queue.models import SavedQueueView
from cases.shadow.models import ShadowScore
from cases.similarity.models import (
    CaseCentroid,
    EmbeddingBacklog,
    IndexedEmbedding,
    NeighbourRefreshRequest,
    VerdictNeighbours,
)
from cases.watchers.models import CaseWatcher, Notification, NotificationKind
from cases.webhooks.models import (
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)
from cases.workflow.models import Attachment, Note, Queue, ReasonCode, Tag

__all__ = [
    "ApiToken",
    "IdempotentRequest",
    "EFFECTIVE_LABEL_STATUSES",
    "FINISHED_CASE_STATUSES",
    "REFERENCE_PREFIX",
    "Attachment",
    "AuditAction",
    "AuditEvent",
    "Case",
    "CaseCentroid",
    "CaseWatcher",
    "HoldReason",
    "CaseStatus",
    "CurationRecord",
    "ShadowScore",
    "EmbeddingBacklog",
    "ExchangeRate",
    "IndexedEmbedding",
    "InboxCursor",
    "IngestRun",
    "IpEnrichment",
    "IpKind",
    "Label",
    "LabelExportAction",
    "LabelExportBatch",
    "LabelOutbox",
    "LabelSource",
    "LabelStatus",
    "LabelVersion",
    "NeighbourRefreshRequest",
    "VerdictNeighbours",
    "Note",
    "Notification",
    "NotificationKind",
    "OtpEnrolmentCode",
    "Outcome",
    "QuarantinedRow",
    "Queue",
    "ReasonCode",
    "Resolution",
    "Ring",
    "RingMember",
    "RingSnapshot",
    "SavedQueueView",
    "Tag",
    "Transaction",
    "UnknownUsernameFailures",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookEventType",
    "WebhookSubscription",
    "parse_case_reference",
]
