"""Writes of the case workflow, one module per part; pages and the API import from here."""

from cases.workflow.services.annotations import case_add_note, case_set_tags, cases_bulk_tag
from cases.workflow.services.assignment import (
    case_assign,
    case_assign_to_me,
    case_claim_next,
    case_unassign,
    cases_bulk_assign,
)
from cases.workflow.services.attachments import (
    attachment_discard,
    attachment_store,
    case_attach_file,
    case_attach_stored,
)
from cases.workflow.services.bulk import (
    BulkOutcome,
    cases_bulk_assign_to_me,
    cases_bulk_close_false_positive,
)
from cases.workflow.services.lifecycle import (
    case_close,
    case_reopen,
    case_transition,
    transaction_decide,
    transaction_label,
)
from cases.workflow.services.merge import case_merge
from cases.workflow.services.queues import cases_route_new, queue_save, reason_code_save
from cases.workflow.services.routing import case_move_to_queue, cases_reroute

__all__ = [
    "BulkOutcome",
    "case_add_note",
    "case_assign",
    "case_assign_to_me",
    "attachment_discard",
    "attachment_store",
    "case_attach_file",
    "case_attach_stored",
    "case_claim_next",
    "case_close",
    "case_merge",
    "case_move_to_queue",
    "case_reopen",
    "case_set_tags",
    "case_transition",
    "case_unassign",
    "cases_bulk_assign",
    "cases_bulk_assign_to_me",
    "cases_bulk_close_false_positive",
    "cases_bulk_tag",
    "cases_reroute",
    "cases_route_new",
    "queue_save",
    "reason_code_save",
    "transaction_decide",
    "transaction_label",
]
