"""Queues (inboxes with SLAs and routing rules) and the reason-code list, managed by leads."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from cases.audit.trail import (
    SYSTEM_USERNAME,
    audit_record,
    audit_record_many,
    model_changes_recorded_by_service,
    refusals_audited,
)
from cases.errors import InvalidInput, NotFound
from cases.locking import conflicts_retried, lock_cases
from cases.models import (
    AuditAction,
    Case,
    Outcome,
    Queue,
    ReasonCode,
    Resolution,
    WebhookEventType,
)
from cases.policies import require_permission
from cases.webhooks.services import webhook_events_record
from cases.workflow.services.assignment import cases_auto_assign
from cases.workflow.services.routing import (
    TRIGGER_QUEUE_RULES,
    Router,
    cases_reroute,
    reroutable,
)

# Fields a routing rule reads: changing one routes the open unassigned cases again.
ROUTING_FIELDS = {
    "routing_order", "is_default", "min_similarity_score", "outcomes", "min_amount", "countries",
}  # fmt: skip
QUEUE_FIELDS = [
    "name", "description", "sla_hours", "routing_order", "is_default", "min_similarity_score",
    "outcomes", "min_amount", "countries", "round_robin",
]  # fmt: skip


def _require_queue_manager(actor, *, attempted: str) -> None:
    """Leads and admins (manage_queues); also the system user, who stands for an operator's
    shell (`manage.py setup` on a fresh install, where no lead exists yet)."""
    if actor is not None and actor.get_username() == SYSTEM_USERNAME and actor.pk:
        return
    require_permission(actor, "manage_queues", attempted=attempted)


@conflicts_retried
def queue_save(
    *, actor, queue_id: int | None = None, member_ids: list[int] | None = None, **fields
) -> Queue:
    """Create or change a queue (lead). Unknown fields, bad rules and unknown members are refused.

    A new queue, or a change to what its rules read, routes the open unassigned cases again
    (cases_reroute: cases in no queue yet among them); the queue returned says how many moved
    (queue.cases_rerouted), and so does its QUEUE_CHANGED event.
    """
    with refusals_audited(
        actor=actor, attempted="queue_save", object_type="cases.queue", object_id=queue_id or ""
    ):
        _require_queue_manager(actor, attempted="manage queues")
        unknown = sorted(set(fields) - set(QUEUE_FIELDS))
        if unknown:
            raise InvalidInput(f"unknown queue field(s): {', '.join(unknown)}")
        bad_outcomes = sorted(set(fields.get("outcomes") or []) - set(Outcome.values))
        if bad_outcomes:
            raise InvalidInput(f"unknown outcome(s) in the routing rule: {', '.join(bad_outcomes)}")
        with transaction.atomic(), model_changes_recorded_by_service():
            reroute = queue_id is None or bool(ROUTING_FIELDS.intersection(fields))
            if reroute:  # the house order: cases (cases.locking) before the queue row
                lock_cases(reroutable().values_list("pk", flat=True))
            if queue_id is None:
                queue, before = Queue(), None
            else:
                queue = Queue.objects.select_for_update().filter(pk=queue_id).first()
                if queue is None:
                    raise NotFound(f"no queue with id {queue_id}")
                before = {field: getattr(queue, field) for field in QUEUE_FIELDS}
            for field, value in fields.items():
                setattr(queue, field, value)
            if queue.is_default:
                Queue.objects.exclude(pk=queue.pk).filter(is_default=True).update(is_default=False)
            try:
                queue.full_clean()
            except Exception as exc:  # ValidationError: say which field, in one line
                raise InvalidInput(f"invalid queue: {exc}") from exc
            queue.save()
            after = {field: getattr(queue, field) for field in QUEUE_FIELDS}
            if member_ids is not None:
                users = list(get_user_model().objects.filter(pk__in=member_ids, is_active=True))
                missing = sorted(set(member_ids) - {user.pk for user in users})
                if missing:
                    raise InvalidInput(f"no active user(s) with id {', '.join(map(str, missing))}")
                before_members = sorted(queue.members.values_list("username", flat=True))
                queue.members.set(users)
                after["members"] = sorted(user.username for user in users)
                if before is not None:
                    before["members"] = before_members
            rerouted = (
                cases_reroute(actor=actor, case_ids=None, trigger=TRIGGER_QUEUE_RULES)
                if reroute
                else 0
            )
            after["cases_rerouted"] = rerouted
            audit_record(
                actor=actor, action=AuditAction.QUEUE_CHANGED, obj=queue, before=before, after=after
            )
            queue.cases_rerouted = rerouted
            return queue


def reason_code_save(
    *, actor, code: str, label: str, resolution: str = "", active: bool = True
) -> ReasonCode:
    with refusals_audited(
        actor=actor, attempted="reason_code_save", object_type="cases.reasoncode", object_id=code
    ):
        _require_queue_manager(actor, attempted="manage reason codes")
        if resolution and resolution not in Resolution.values:
            raise InvalidInput(f"resolution must be empty or one of {', '.join(Resolution.values)}")
        with transaction.atomic(), model_changes_recorded_by_service():
            reason = ReasonCode.objects.filter(code=code).first() or ReasonCode(code=code)
            before = (
                None
                if reason.pk is None
                else {
                    "label": reason.label,
                    "resolution": reason.resolution,
                    "active": reason.active,
                }
            )
            reason.label, reason.resolution, reason.active = label, resolution, active
            try:
                reason.full_clean()
            except Exception as exc:
                raise InvalidInput(f"invalid reason code: {exc}") from exc
            reason.save()
            audit_record(
                actor=actor, action=AuditAction.REASON_CODE_CHANGED, obj=reason, before=before,
                after={"label": label, "resolution": resolution, "active": active},
            )  # fmt: skip
            return reason


def cases_route_new(*, actor, case_ids: list[int]) -> int:
    """Put newly opened cases in their queue (first matching rule, else the default queue),
    set their due time from its SLA, auto-assign round-robin queues, and audit each opening.
    Returns how many were routed to a queue. Idempotent: routed cases are left alone.
    """
    cases = list(Case.objects.filter(pk__in=case_ids, queue__isnull=True).order_by("pk"))
    if not cases:
        return 0
    router = Router()
    countries_by_case = router.countries_by_case([case.pk for case in cases])
    routed, opened_events = [], []
    for case in cases:
        queue = router.queue_for(case, countries_by_case.get(case.pk, set()))
        if queue is not None:
            case.queue = queue
            case.due_at = case.opened_at + timedelta(hours=queue.sla_hours)
            routed.append(case)
        opened_events.append({
            "obj": case,
            "after": {"account_id": case.account_id, "queue": queue.name if queue else None,
                      "due_at": case.due_at, "priority": case.priority},
        })  # fmt: skip
    by_queue: dict[Queue, list[int]] = {}
    for case in routed:
        by_queue.setdefault(case.queue, []).append(case.pk)
    for queue, ids in by_queue.items():  # one UPDATE per queue, not a CASE per row
        Case.objects.filter(pk__in=ids).update(
            queue=queue, due_at=F("opened_at") + timedelta(hours=queue.sla_hours)
        )
    # Round-robin queues are locked before the audit chain's lock, which is held to the commit
    # (cases.locking): a lead saving the queue holds it and then waits for the chain.
    round_robin = [queue.pk for queue in by_queue if queue.round_robin]
    list(Queue.objects.select_for_update().filter(pk__in=round_robin).order_by("pk"))
    audit_record_many(actor=actor, action=AuditAction.CASE_OPENED, entries=opened_events)
    webhook_events_record(type=WebhookEventType.CASE_OPENED, case_ids=[c.pk for c in cases], payloads=[e["after"] for e in opened_events])  # fmt: skip
    # Only round-robin queues assign (the service locks and checks them again): no query else.
    cases_auto_assign(actor=actor, cases=[case for case in routed if case.queue.round_robin])
    return len(routed)
