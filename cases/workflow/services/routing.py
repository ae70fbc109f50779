"""Routing after opening: cases follow what their routing rules read, and leads move cases.

A case is routed when it opens (cases_route_new). Afterwards every change a routing rule reads
(new transactions, the highest score, the sternest outcome, the amount at risk) and every
change of a queue's rules routes it again (cases_reroute): an open case nobody holds moves to
the queue its rules now pick. A case with an assignee stays where it is, with its assignee,
until a lead moves it (case_move_to_queue). The due time follows the new queue's SLA counted
from the opening, and is never later than the one the case had.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from cases.audit.trail import audit_record, audit_record_many, refusals_audited
from cases.errors import InvalidInput, NotFound, TransitionNotAllowed
from cases.locking import conflicts_retried, lock_cases
from cases.models import FINISHED_CASE_STATUSES, AuditAction, Case, Queue, Transaction
from cases.policies import require_permission
from cases.sqlarrays import number_array
from cases.workflow.services.assignment import cases_auto_assign
from cases.workflow.services.common import lock_case, save_case

# What started a re-route, as the CASE_ROUTED event says it.
TRIGGER_TRANSACTIONS = "new transactions"
TRIGGER_QUEUE_RULES = "queue rules changed"
TRIGGER_MERGE = "merge"
TRIGGER_AMOUNT = "amount in the reporting currency"


def queue_matches(queue: Queue, case: Case, countries: set[str]) -> bool:
    """Every rule the queue sets must hold; an unset rule matches anything."""
    if (
        queue.min_similarity_score is not None
        and case.max_similarity_score < queue.min_similarity_score
    ):
        return False
    if queue.outcomes and case.worst_outcome not in queue.outcomes:
        return False
    # In the reporting currency: a 1,000,000 KRW case is not a million at risk.
    if queue.min_amount is not None and case.amount_reporting < Decimal(queue.min_amount):
        return False
    return not (queue.countries and not countries.intersection(queue.countries))


class Router:
    """The queues as they are now, to pick a queue per case (first matching rule, else default)."""

    def __init__(self) -> None:
        queues = list(Queue.objects.order_by("routing_order", "name"))
        self.rule_queues = [queue for queue in queues if not queue.is_default]
        self.default = next((queue for queue in queues if queue.is_default), None)
        self.reads_countries = any(queue.countries for queue in self.rule_queues)
        self.names = {queue.pk: queue.name for queue in queues}

    def countries_by_case(self, case_ids: list[int]) -> dict[int, set[str]]:
        """The countries of each case's transactions (read only when a rule asks for them)."""
        found: dict[int, set[str]] = {}
        if not self.reads_countries or not case_ids:
            return found
        rows = (
            Transaction.objects.filter(case_id__in=case_ids)
            .exclude(country="")
            .values_list("case_id", "country")
            .distinct()
        )
        for case_id, country in rows:
            found.setdefault(case_id, set()).add(country)
        return found

    def queue_for(self, case: Case, countries: set[str]) -> Queue | None:
        return next(
            (q for q in self.rule_queues if queue_matches(q, case, countries)), self.default
        )


def due_in_queue(case: Case, queue: Queue) -> datetime:
    """The new queue's SLA from the opening, never later than the due time the case had."""
    due = case.opened_at + timedelta(hours=queue.sla_hours)
    return due if case.due_at is None else min(due, case.due_at)


def reroutable(cases=None):
    """Open cases nobody holds: the ones routing may move."""
    cases = Case.objects.all() if cases is None else cases
    return cases.exclude(status__in=FINISHED_CASE_STATUSES).filter(assignee__isnull=True)


def cases_reroute(*, actor, case_ids: Iterable[int] | None, trigger: str) -> int:
    """Route again the open, unassigned cases among case_ids (None: all of them), after a change
    their routing rules read. Returns how many moved (or left "unrouted" for their first queue).

    Runs in the caller's transaction; it locks the cases in the house order (cases.locking; a
    caller that holds them already, ingest's chunk, loses nothing) and the round-robin queues
    they go to, both before the audit chain. Each move is one CASE_ROUTED event (before and
    after: queue and due time; the trigger). A case whose queue stays the same is left alone,
    so it is idempotent. Cases moved into a round-robin queue are assigned in turn.
    """
    with transaction.atomic():
        candidates = reroutable()
        if case_ids is not None:
            case_ids = sorted(set(case_ids))
            if not case_ids:
                return 0
            candidates = candidates.filter(pk__in=case_ids)
        ids = list(candidates.order_by("pk").values_list("pk", flat=True))
        if not ids:
            return 0
        router = Router()
        if router.default is None and not router.rule_queues:
            return 0
        # Locked, then read again: one assigned or closed meanwhile stays where it is.
        cases = [case for case in lock_cases(ids).values() if _still_reroutable(case)]
        countries = router.countries_by_case([case.pk for case in cases])
        moved, events = [], []
        for case in cases:
            target = router.queue_for(case, countries.get(case.pk, set()))
            if target is None or target.pk == case.queue_id:
                continue
            before = {"queue": router.names.get(case.queue_id), "due_at": case.due_at}
            case.queue, case.due_at = target, due_in_queue(case, target)
            moved.append(case)
            events.append({"obj": case, "before": before,
                           "after": {"queue": target.name, "due_at": case.due_at, "trigger": trigger}})  # fmt: skip
        if not moved:
            return 0
        with connection.cursor() as cursor:  # one statement, however many moved
            cursor.execute(
                "UPDATE cases_case SET queue_id = moved.queue_id, due_at = moved.due_at, "
                "updated_at = %s FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) "
                "AS moved(id, queue_id, due_at) WHERE cases_case.id = moved.id",
                [timezone.now(), number_array([c.pk for c in moved]),
                 number_array([c.queue_id for c in moved]), [c.due_at for c in moved]],
            )  # fmt: skip
        # Round-robin queues before the audit chain's lock (the order cases_route_new keeps).
        round_robin = sorted({case.queue_id for case in moved if case.queue.round_robin})
        list(Queue.objects.select_for_update().filter(pk__in=round_robin).order_by("pk"))
        audit_record_many(actor=actor, action=AuditAction.CASE_ROUTED, entries=events)
        cases_auto_assign(actor=actor, cases=moved)
        return len(moved)


def lock_round_robin_queues() -> None:
    """Lock every round-robin queue (in id order), as routing does before the audit chain."""
    list(Queue.objects.select_for_update().filter(round_robin=True).order_by("pk"))


def _still_reroutable(case: Case) -> bool:
    return case.assignee_id is None and case.status not in FINISHED_CASE_STATUSES


def _routing_state(case: Case) -> dict:
    return {"queue": case.queue.name if case.queue_id else None, "due_at": case.due_at}


@conflicts_retried
def case_move_to_queue(
    *, actor, case_id, queue_id: int, expected_version: int | None = None
) -> Case:
    """A lead moves a case to another queue; its assignee keeps it (a lead may assign anyone).

    The due time follows the new queue's SLA from the opening, never later than it was.
    """
    with refusals_audited(
        actor=actor, attempted="case_move_to_queue", object_type="cases.case", object_id=case_id
    ):
        require_permission(actor, "work_any_case", attempted="move cases between queues")
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            if case.status in FINISHED_CASE_STATUSES:
                raise TransitionNotAllowed(f"{case.reference} is {case.status}: it stays put")
            queue = Queue.objects.filter(pk=queue_id).first()
            if queue is None:
                raise NotFound(f"no queue with id {queue_id}")
            if queue.pk == case.queue_id:
                raise InvalidInput(f"{case.reference} is in {queue.name} already")
            before = _routing_state(case)
            case.queue, case.due_at = queue, due_in_queue(case, queue)
            save_case(case, ["queue", "due_at"])
            audit_record(
                actor=actor, action=AuditAction.CASE_ROUTED, obj=case, before=before,
                after={**_routing_state(case), "trigger": "moved by a lead", "version": case.version},
            )  # fmt: skip
            return case
