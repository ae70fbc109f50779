"""Writes for the investigation domain, one module per part; import from here."""

from cases.services.annotations import (
    case_add_note,
    case_attach_file,
    case_set_tags,
    cases_bulk_tag,
)
from cases.services.assignment import (
    case_assign,
    case_assign_to_me,
    case_claim_next,
    case_unassign,
    cases_bulk_assign,
)
from cases.services.bulk import (
    BulkOutcome,
    cases_bulk_assign_to_me,
    cases_bulk_close_false_positive,
)
from cases.services.ingest_cases import (
    case_priority,
    cases_fold_in_transactions,
    cases_open_for_accounts,
    cases_refresh_priority,
)
from cases.services.ip_enrichment import ips_enrich, ips_enrich_pending
from cases.services.lifecycle import (
    TRANSITIONS,
    allowed_transitions,
    case_close,
    case_reopen,
    case_transition,
    transaction_decide,
    transaction_label,
)
from cases.services.merge import case_merge
from cases.services.queues import cases_route_new, queue_save, reason_code_save

__all__ = [
    "TRANSITIONS",
    "BulkOutcome",
    "allowed_transitions",
    "case_add_note",
    "case_assign",
    "case_assign_to_me",
    "case_attach_file",
    "case_claim_next",
    "case_close",
    "case_merge",
    "case_priority",
    "case_reopen",
    "case_set_tags",
    "case_transition",
    "case_unassign",
    "cases_bulk_assign",
    "cases_bulk_assign_to_me",
    "cases_bulk_close_false_positive",
    "cases_bulk_tag",
    "cases_fold_in_transactions",
    "cases_open_for_accounts",
    "cases_refresh_priority",
    "cases_route_new",
    "ips_enrich",
    "ips_enrich_pending",
    "queue_save",
    "reason_code_save",
    "transaction_decide",
    "transaction_label",
]
