"""A case's status workflow, closing with a resolution, reopening, and transaction verdicts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.clock import database_now
from cases.errors import InvalidInput, NotFound, TransitionNotAllowed
from cases.labels.services.versions import STANDING_STATUSES, label_version_record, latest_version
from cases.locking import conflicts_retried, lock_transactions_with_cases
from cases.models import (
    FINISHED_CASE_STATUSES,
    AuditAction,
    Case,
    CaseStatus,
    Label,
    LabelStatus,
    LabelVersion,
    Outcome,
    ReasonCode,
    Resolution,
    Transaction,
)
from cases.models import WebhookEventType as Hook
from cases.policies import TRANSITIONS, allowed_transitions, require_permission
from cases.webhooks.services import webhook_event_record
from cases.workflow.services.common import (
    case_snapshot,
    check_version,
    lock_case,
    require_can_work,
    save_case,
    touch_case,
)

# The workflow (cases.policies.TRANSITIONS): open -> in review -> (waiting on customer |
# escalated) -> closed; closing goes through case_close (it needs a resolution), reopening
# through case_reopen (a lead's call).

# What a resolution implies for transactions the analyst has not decided one by one.
RESOLUTION_DEFAULTS: dict[str, tuple[str, str]] = {
    Resolution.CONFIRMED_FRAUD: (Outcome.BLOCK, Label.FRAUD),
    Resolution.FALSE_POSITIVE: (Outcome.APPROVE, Label.LEGITIMATE),
    Resolution.INCONCLUSIVE: (Outcome.INVESTIGATE, ""),
}
MAX_COMMENT_LENGTH = 20_000


@conflicts_retried
def case_transition(
    *,
    actor,
    case_id,
    to_status: str,
    expected_version: int | None = None,
    waiting_until: datetime | None = None,
) -> Case:
    """Move a case along the workflow (not to closed: use case_close).

    Waiting on the customer has a date their reply is due (waiting_until, in the future;
    default FRAUDCASE_CUSTOMER_REPLY_DAYS days from now by the database's clock): past it, the
    assignee and the case's followers get a reminder (cases.watchers). Leaving the status
    clears it. The date is refused for any other status.
    """
    with refusals_audited(
        actor=actor, attempted="case_transition", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            require_can_work(actor, case, attempted="change the status")
            if to_status not in CaseStatus.values:
                raise InvalidInput(f"{to_status!r} is not a case status")
            if to_status == CaseStatus.CLOSED:
                raise TransitionNotAllowed(
                    "closing needs a resolution, reason codes and a comment: use close"
                )
            if to_status not in TRANSITIONS[case.status]:
                raise TransitionNotAllowed(
                    f"{case.reference} cannot go from {case.status} to {to_status}; "
                    f"allowed: {', '.join(allowed_transitions(case)) or 'none'}"
                )
            before = case_snapshot(case, ["status"])
            after = {"status": to_status}
            if to_status == CaseStatus.WAITING_ON_CUSTOMER:
                case.waiting_until = _reply_due(waiting_until)
                after["waiting_until"] = case.waiting_until
            elif waiting_until is not None:
                raise InvalidInput("only a case waiting on the customer has a reply date")
            else:
                case.waiting_until = None
            case.status = to_status
            save_case(case, ["status", "waiting_until"])
            audit_record(
                actor=actor, action=AuditAction.CASE_STATUS_CHANGED, obj=case, before=before,
                after={**after, "version": case.version},
            )  # fmt: skip
            webhook_event_record(type=Hook.CASE_STATUS_CHANGED, case=case, payload={"from": before["status"], "to": to_status, "version": case.version})  # fmt: skip
            return case


def _reply_due(waiting_until: datetime | None) -> datetime:
    now = database_now()
    if waiting_until is None:
        return now + timedelta(days=settings.FRAUDCASE_CUSTOMER_REPLY_DAYS)
    if waiting_until <= now:
        raise InvalidInput("the customer's reply date must be in the future")
    return waiting_until


def _reason_codes(codes: list[str], resolution: str) -> list[ReasonCode]:
    if not codes:
        raise InvalidInput("closing needs at least one reason code")
    found = {reason.code: reason for reason in _known_reason_codes(codes)}
    misfits = sorted(
        code
        for code, reason in found.items()
        if reason.resolution and reason.resolution != resolution
    )
    if misfits:
        raise InvalidInput(
            f"reason code(s) {', '.join(misfits)} do not fit the resolution {resolution}"
        )
    return list(found.values())


@conflicts_retried
def case_close(
    *,
    actor,
    case_id,
    resolution: str,
    reason_codes: list[str],
    comment: str,
    expected_version: int | None = None,
) -> Case:
    """Close with a resolution, typed reasons and a comment.

    Transactions without a decision or label get the resolution's defaults (confirmed fraud:
    block + fraud; false positive: approve + legitimate; inconclusive: investigate, no label);
    those decided one by one keep theirs.
    """
    with refusals_audited(
        actor=actor, attempted="case_close", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            require_can_work(actor, case, attempted="close the case")
            if CaseStatus.CLOSED not in TRANSITIONS[case.status]:
                raise TransitionNotAllowed(
                    f"{case.reference} cannot be closed: it is {case.status}"
                )
            if resolution not in Resolution.values:
                raise InvalidInput(
                    f"a resolution is required: one of {', '.join(Resolution.values)}"
                )
            reasons = _reason_codes(list(reason_codes), resolution)
            comment = (comment or "").strip()
            if not comment:
                raise InvalidInput("closing needs a comment")
            if len(comment) > MAX_COMMENT_LENGTH:
                raise InvalidInput(f"the comment is longer than {MAX_COMMENT_LENGTH} characters")
            before = case_snapshot(case, ["status", "resolution", "closing_comment"])
            case.status = CaseStatus.CLOSED
            case.resolution = resolution
            case.closing_comment = comment
            case.closed_at = database_now()
            save_case(case, ["status", "resolution", "closing_comment", "closed_at"])
            case.reason_codes.set(reasons)
            _apply_resolution_defaults(
                actor=actor, case=case, resolution=resolution, when=case.closed_at
            )
            audit_record(
                actor=actor, action=AuditAction.CASE_CLOSED, obj=case, before=before,
                after={"status": case.status, "resolution": resolution, "closing_comment": comment,
                       "reason_codes": sorted(reason.code for reason in reasons), "version": case.version},
            )  # fmt: skip
            webhook_event_record(type=Hook.CASE_CLOSED, case=case, payload={"resolution": resolution, "reason_codes": sorted(r.code for r in reasons), "version": case.version})  # fmt: skip
            return case


def _apply_resolution_defaults(*, actor, case: Case, resolution: str, when) -> None:
    decision, label = RESOLUTION_DEFAULTS[resolution]
    # The case is locked; its transactions next, in id order (the house order, cases.locking).
    transactions = list(case.transactions.select_for_update(no_key=True).order_by("id"))
    for tx in transactions:
        tx.case = case
        if not tx.decision:
            _record_decision(
                actor=actor, tx=tx, decision=decision, when=when, why="resolution default"
            )
    if label:
        codes = sorted(case.reason_codes.values_list("code", flat=True))
        # A label held for a lead is a decision already: the default does not overrule it.
        held = set(
            LabelVersion.objects.filter(
                transaction__case=case, status=LabelStatus.HELD
            ).values_list("transaction_id", flat=True)
        )
        for tx in transactions:
            if tx.label or tx.pk in held:
                continue
            # A new version with its outbox row, held by the poisoning guards when they say so.
            label_version_record(
                actor=actor, tx=tx, label=label, when=when, why="resolution default",
                reason_codes=codes,
            )  # fmt: skip


def _record_decision(*, actor, tx: Transaction, decision: str, when, why: str) -> None:
    before = {"decision": tx.decision}
    tx.decision, tx.decided_by, tx.decided_at = decision, actor, when
    tx.save(update_fields=["decision", "decided_by", "decided_at"])
    audit_record(
        actor=actor, action=AuditAction.TRANSACTION_DECIDED, obj=tx, object_repr=tx.transaction_id,
        before=before, after={"decision": decision, "why": why, "case_id": tx.case_id},
    )  # fmt: skip


@conflicts_retried
def case_reopen(*, actor, case_id, reason: str, expected_version: int | None = None) -> Case:
    """A lead reopens a closed case (back to in review); the account must have no other open case."""
    with refusals_audited(
        actor=actor, attempted="case_reopen", object_type="cases.case", object_id=case_id
    ):
        require_permission(actor, "reopen_case", attempted="reopen cases")
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            if case.status != CaseStatus.CLOSED:
                raise TransitionNotAllowed(
                    f"only a closed case can be reopened; {case.reference} is {case.status}"
                )
            if not (reason or "").strip():
                raise InvalidInput("reopening needs a reason")
            other = (
                Case.objects.filter(account_id=case.account_id)
                .exclude(pk=case.pk)
                .exclude(status__in=FINISHED_CASE_STATUSES)
                .first()
            )
            if other is not None:
                raise TransitionNotAllowed(
                    f"account {case.account_id} already has the open case {other.reference}; merge instead"
                )
            before = case_snapshot(case, ["status", "resolution", "closing_comment"])
            case.status, case.resolution, case.closing_comment, case.closed_at = (
                CaseStatus.IN_REVIEW, "", "", None,
            )  # fmt: skip
            save_case(case, ["status", "resolution", "closing_comment", "closed_at"])
            case.reason_codes.clear()
            audit_record(
                actor=actor, action=AuditAction.CASE_REOPENED, obj=case, before=before,
                after={"status": case.status, "reason": reason.strip(), "version": case.version},
            )  # fmt: skip
            webhook_event_record(type=Hook.CASE_STATUS_CHANGED, case=case, payload={"from": CaseStatus.CLOSED, "to": case.status, "reopened": True, "version": case.version})  # fmt: skip
            return case


def _lock_transaction(transaction_id: str, expected_version: int | None) -> Transaction:
    """The transaction with its case (tx.case), both locked: the case first (cases.locking)."""
    _, locked = lock_transactions_with_cases(
        Transaction.objects.filter(transaction_id=transaction_id)
    )
    if not locked:
        raise NotFound(f"no transaction {transaction_id!r}")
    check_version(locked[0].case, expected_version)
    return locked[0]


@conflicts_retried
def transaction_decide(
    *, actor, transaction_id: str, decision: str, expected_version: int | None = None
) -> Transaction:
    """Record the analyst's decision (approve / investigate / block) on one transaction."""
    with refusals_audited(
        actor=actor,
        attempted="transaction_decide",
        object_type="cases.transaction",
        object_repr=transaction_id,
    ):
        with transaction.atomic():
            tx = _lock_transaction(transaction_id, expected_version)
            case = tx.case
            require_can_work(actor, case, attempted="decide transactions")
            if case.status in FINISHED_CASE_STATUSES:
                raise TransitionNotAllowed(
                    f"{case.reference} is {case.status}: reopen it to change decisions"
                )
            if decision not in Outcome.values:
                raise InvalidInput(f"decision must be one of {', '.join(Outcome.values)}")
            if tx.decision != decision:
                _record_decision(
                    actor=actor, tx=tx, decision=decision, when=database_now(), why="analyst"
                )
                touch_case(case)
            return tx


@conflicts_retried
def transaction_label(
    *,
    actor,
    transaction_id: str,
    label: str,
    reason_codes: list[str] | None = None,
    expected_version: int | None = None,
) -> Transaction:
    """Record the analyst's truth label (fraud / legitimate) on one transaction.

    A change is a new label version (cases.labels.services.versions); a flip of an exported label or
    a label during the analyst's contradiction burst is held for a lead. reason_codes default
    to the case's.
    """
    with refusals_audited(
        actor=actor,
        attempted="transaction_label",
        object_type="cases.transaction",
        object_repr=transaction_id,
    ):
        with transaction.atomic():
            tx = _lock_transaction(transaction_id, expected_version)
            case = tx.case
            require_can_work(actor, case, attempted="label transactions")
            if case.status in FINISHED_CASE_STATUSES:
                raise TransitionNotAllowed(
                    f"{case.reference} is {case.status}: reopen it to change labels"
                )
            if label not in Label.values:
                raise InvalidInput(f"label must be one of {', '.join(Label.values)}")
            # What stands now: the newest version unless a lead turned it down or quarantined it.
            latest = latest_version(tx)
            standing = latest.label if latest and latest.status in STANDING_STATUSES else tx.label
            if standing != label:
                if reason_codes is None:
                    codes = sorted(case.reason_codes.values_list("code", flat=True))
                else:
                    codes = sorted(reason.code for reason in _known_reason_codes(reason_codes))
                label_version_record(
                    actor=actor, tx=tx, label=label, when=database_now(), why="analyst",
                    reason_codes=codes,
                )  # fmt: skip
            return tx


def _known_reason_codes(codes: list[str]) -> list[ReasonCode]:
    found = list(ReasonCode.objects.filter(code__in=codes, active=True))
    unknown = sorted(set(codes) - {reason.code for reason in found})
    if unknown:
        raise InvalidInput(f"unknown or retired reason code(s): {', '.join(unknown)}")
    return found
