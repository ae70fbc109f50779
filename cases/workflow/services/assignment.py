"""Who works a case: assign, unassign, assign to me, claim next, bulk assign, round robin."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from cases.audit.trail import audit_record, refusals_audited
from cases.errors import ActionNotPermitted, InvalidInput, NotFound, TransitionNotAllowed
from cases.locking import conflicts_retried
from cases.models import (
    FINISHED_CASE_STATUSES,
    AuditAction,
    Case,
    CaseStatus,
    Queue,
    parse_case_reference,
)
from cases.models import WebhookEventType as Hook
from cases.policies import can_take_over, require_permission
from cases.webhooks.services import webhook_event_record
from cases.workflow.services.common import (
    lock_case,
    lock_cases_checked,
    require_can_work,
    save_case,
)


def _assignee(user_id: int, case: Case):
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound(f"no active user with id {user_id}")
    if not user.has_perm("cases.work_any_case") and not (
        user.has_perm("cases.work_case")
        and case.queue_id is not None
        and case.queue.members.filter(pk=user.pk).exists()
    ):
        raise InvalidInput(
            f"{user.get_username()} cannot take {case.reference}: not a member of its queue"
        )
    return user


def _check_open(case: Case, attempted: str) -> None:
    if case.status in FINISHED_CASE_STATUSES:
        raise TransitionNotAllowed(f"cannot {attempted} {case.reference}: it is {case.status}")


def _set_assignee(*, actor, case: Case, assignee) -> None:
    before = {"assignee": case.assignee.get_username() if case.assignee_id else None}
    case.assignee = assignee
    save_case(case, ["assignee"])
    audit_record(
        actor=actor,
        action=AuditAction.CASE_ASSIGNED if assignee else AuditAction.CASE_UNASSIGNED,
        obj=case,
        before=before,
        after={"assignee": assignee.get_username() if assignee else None, "version": case.version},
    )
    webhook_event_record(type=Hook.CASE_ASSIGNED, case=case, payload={"assignee": assignee and assignee.get_username(), "version": case.version})  # fmt: skip


@conflicts_retried
def case_assign(
    *,
    actor,
    case_id,
    assignee_id: int,
    expected_version: int | None = None,
    reason: str = "",
) -> Case:
    """Give the case to a member of its queue. Leads assign anyone; others only themselves.

    Taking a case that someone else holds is a take-over: a lead's action (assign_case), with
    a reason, audited as CASE_TAKEN_OVER; an analyst is refused.
    """
    with refusals_audited(
        actor=actor, attempted="case_assign", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            if assignee_id != getattr(actor, "pk", None):
                require_permission(actor, "assign_case", attempted="assign cases to others")
            else:
                require_can_work(actor, case, attempted="take the case")
            _check_open(case, "assign")
            taking_over = (
                case.assignee_id is not None and assignee_id == actor.pk != case.assignee_id
            )
            if taking_over:
                _check_take_over(actor, case, reason)
            assignee = _assignee(assignee_id, case)
            if taking_over:
                _take_over(actor=actor, case=case, reason=reason)
            elif case.assignee_id != assignee.pk:
                _set_assignee(actor=actor, case=case, assignee=assignee)
            return case


def case_assign_to_me(
    *, actor, case_id, expected_version: int | None = None, reason: str = ""
) -> Case:
    return case_assign(
        actor=actor, case_id=case_id, assignee_id=actor.pk, expected_version=expected_version,
        reason=reason,
    )  # fmt: skip


MAX_TAKE_OVER_REASON = 2000


def _check_take_over(actor, case: Case, reason: str) -> None:
    holder = case.assignee.get_username()
    if not can_take_over(actor):
        raise ActionNotPermitted(
            f"{case.reference} is assigned to {holder}: taking over a colleague's case is a "
            "lead's action; ask a lead, or ask them to unassign it"
        )
    if not reason.strip():
        raise InvalidInput(f"give a reason for taking {case.reference} over from {holder}")
    if len(reason) > MAX_TAKE_OVER_REASON:
        raise InvalidInput(f"the reason is too long (at most {MAX_TAKE_OVER_REASON} characters)")


def _take_over(*, actor, case: Case, reason: str) -> None:
    before = {"assignee": case.assignee.get_username()}
    case.assignee = actor
    save_case(case, ["assignee"])
    audit_record(
        actor=actor, action=AuditAction.CASE_TAKEN_OVER, obj=case, before=before,
        after={"assignee": actor.get_username(), "reason": reason.strip(), "version": case.version},
    )  # fmt: skip
    webhook_event_record(type=Hook.CASE_ASSIGNED, case=case, payload={"assignee": actor.get_username(), "version": case.version})  # fmt: skip


@conflicts_retried
def case_unassign(*, actor, case_id, expected_version: int | None = None) -> Case:
    """Release the case back to its queue: its assignee or a lead may."""
    with refusals_audited(
        actor=actor, attempted="case_unassign", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            if case.assignee_id != getattr(actor, "pk", None):
                require_permission(actor, "assign_case", attempted="unassign others' cases")
            _check_open(case, "unassign")
            if case.assignee_id is not None:
                _set_assignee(actor=actor, case=case, assignee=None)
            return case


@conflicts_retried
def case_claim_next(*, actor) -> Case | None:
    """Assign the actor the highest-priority unassigned open case in their queues.

    Race-free: the candidate row is locked with SKIP LOCKED, so two analysts clicking at once
    get two different cases. Returns None when nothing is waiting.
    """
    with refusals_audited(actor=actor, attempted="case_claim_next"):
        require_permission(actor, "work_case", attempted="claim cases")
        with transaction.atomic():
            waiting = Case.objects.filter(
                assignee__isnull=True, status__in=[CaseStatus.OPEN, CaseStatus.IN_REVIEW]
            )
            if not actor.has_perm("cases.work_any_case"):
                waiting = waiting.filter(queue__members=actor)
            case = (
                waiting.order_by("-priority", "opened_at", "id")
                .select_for_update(skip_locked=True, no_key=True, of=("self",))
                .first()
            )
            if case is None:
                return None
            _set_assignee(actor=actor, case=case, assignee=actor)
            return case


@conflicts_retried
def cases_bulk_assign(*, actor, case_ids: list, assignee_id: int | None) -> list[Case]:
    """Assign (or with None, unassign) many cases at once: all of them or none."""
    with refusals_audited(actor=actor, attempted="cases_bulk_assign", object_type="cases.case"):
        require_permission(actor, "assign_case", attempted="assign cases in bulk")
        if not case_ids:
            raise InvalidInput("select at least one case")
        with transaction.atomic():
            ids = sorted({parse_case_reference(case_id) for case_id in case_ids})
            cases = lock_cases_checked([(case_id, None) for case_id in ids])
            for case in cases:
                _check_open(case, "assign")
                assignee = _assignee(assignee_id, case) if assignee_id is not None else None
                if case.assignee_id != getattr(assignee, "pk", None):
                    _set_assignee(actor=actor, case=case, assignee=assignee)
            return cases


def queue_next_round_robin_member(queue: Queue):
    """The active member after the queue's last assignee, in username order; None if empty.

    Call inside a transaction that holds the queue row locked.
    """
    members = list(queue.members.filter(is_active=True).order_by("username"))
    if not members:
        return None
    last = queue.last_assignee.username if queue.last_assignee_id else None
    following = [member for member in members if last is None or member.username > last]
    return following[0] if following else members[0]


def cases_auto_assign(*, actor, cases: list[Case]) -> None:
    """Round-robin new cases of queues that ask for it (called when cases are routed)."""
    by_queue: dict[int, list[Case]] = {}
    for case in cases:
        if case.queue_id and case.assignee_id is None:
            by_queue.setdefault(case.queue_id, []).append(case)
    if not by_queue:
        return
    round_robin = Queue.objects.select_for_update().filter(Q(pk__in=by_queue) & Q(round_robin=True))
    for queue in round_robin.order_by("pk"):
        for case in by_queue[queue.pk]:
            member = queue_next_round_robin_member(queue)
            if member is None:
                break
            _set_assignee(actor=actor, case=case, assignee=member)
            queue.last_assignee = member
        queue.save(update_fields=["last_assignee"])
