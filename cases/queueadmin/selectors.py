"""Reads for the leads' queue and reason-code pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from cases.models import FINISHED_CASE_STATUSES, Case, Queue, ReasonCode

OPEN = ~Q(cases__status__in=FINISHED_CASE_STATUSES)


@dataclass(frozen=True)
class QueueRow:
    queue: Queue
    members: list[str]
    open_cases: int
    unassigned: int


def queues_for_management() -> list[QueueRow]:
    """Every queue in routing order with its members and open / unassigned case counts."""
    queues = (
        Queue.objects.order_by("routing_order", "name")
        .prefetch_related("members")
        .annotate(
            open_cases=Count("cases", filter=OPEN),
            unassigned=Count("cases", filter=OPEN & Q(cases__assignee__isnull=True)),
        )
    )
    return [
        QueueRow(q, sorted(u.get_username() for u in q.members.all()), q.open_cases, q.unassigned)
        for q in queues
    ]


def unrouted_open_case_count() -> int:
    """Open cases in no queue (opened before any queue existed)."""
    return (
        Case.objects.exclude(status__in=FINISHED_CASE_STATUSES).filter(queue__isnull=True).count()
    )


def queue_member_candidates():
    """Active users who can work cases (queue members), by username."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__permissions__codename="work_case") | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )


def reason_codes_for_management():
    return ReasonCode.objects.order_by("code")
