"""Bulk actions of the triage queue that go case by case: what succeeds stays, and each
refusal (a case closed meanwhile, one the analyst may not work) is reported, not fatal.

(Bulk assignment to someone else and bulk tags are all-or-nothing: cases_bulk_assign and
cases_bulk_tag.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cases.errors import CaseError
from cases.models import Case, Resolution
from cases.workflow.services.assignment import case_assign_to_me
from cases.workflow.services.lifecycle import case_close


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    changed: list[Case] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def _case_by_case(case_ids: list[int], change: Callable[[int], Case]) -> BulkOutcome:
    """change runs per case in its own transaction and audits itself (services do)."""
    outcome = BulkOutcome()
    for case_id in case_ids:
        try:
            outcome.changed.append(change(case_id))
        except CaseError as error:
            outcome.refusals.append(error.message)
    return outcome


def cases_bulk_close_false_positive(
    *, actor, case_ids: list[int], reason_codes: list[str], comment: str
) -> BulkOutcome:
    """Close each case as a false positive with the same reason codes (one or several) and
    comment."""
    return _case_by_case(
        case_ids,
        lambda case_id: case_close(
            actor=actor, case_id=case_id, resolution=Resolution.FALSE_POSITIVE,
            reason_codes=list(reason_codes), comment=comment,
        ),
    )  # fmt: skip


def cases_bulk_assign_to_me(*, actor, case_ids: list[int], reason: str = "") -> BulkOutcome:
    """Take each case (each as case_assign_to_me would: one someone else holds is a lead's
    take-over, with the reason)."""
    return _case_by_case(
        case_ids, lambda case_id: case_assign_to_me(actor=actor, case_id=case_id, reason=reason)
    )
