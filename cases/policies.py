"""Who may see and work which case: the one access policy of FraudCase.

Selectors, services, pages and the API ask here; none decides access itself.

- Leads and admins (work_any_case), auditors (view_audit) and service accounts syncing over
  the API (sync_cases) see every case.
- An analyst (view_case) sees the cases of the queues they belong to, the cases assigned to
  them, and the cases they worked before: where they wrote a note, attached a file, or decided
  or labelled a transaction (a case moved to another queue stays readable to who worked it).
- Anyone else sees no case. A case outside a user's view does not exist for them: pages and the
  API answer 404, never 403, so references and ids do not leak. Other queues' cases show only as
  counts (IP pages, rings, link graph, related and similar cases).
- Working a case (changing it) needs work_any_case, or work_case and membership of its queue.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from cases.errors import ActionNotPermitted
from cases.models import Attachment, Case, CaseStatus, LabelVersion, Note, Queue, Transaction

# The case workflow: the statuses each status may move to (closing has its own service).
TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.IN_REVIEW, CaseStatus.CLOSED}),
    CaseStatus.IN_REVIEW: frozenset(
        {CaseStatus.WAITING_ON_CUSTOMER, CaseStatus.ESCALATED, CaseStatus.CLOSED}
    ),
    CaseStatus.WAITING_ON_CUSTOMER: frozenset(
        {CaseStatus.IN_REVIEW, CaseStatus.ESCALATED, CaseStatus.CLOSED}
    ),
    CaseStatus.ESCALATED: frozenset({CaseStatus.IN_REVIEW, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
    CaseStatus.MERGED: frozenset(),
}


def allowed_transitions(case: Case) -> list[str]:
    return sorted(TRANSITIONS.get(case.status, frozenset()))


def _active(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def sees_every_case(user) -> bool:
    """Leads and admins work any case; auditors read every case (and work none); service
    accounts mirror every case to other systems (sync_cases)."""
    return _active(user) and (
        user.has_perm("cases.work_any_case")
        or user.has_perm("cases.view_audit")
        or user.has_perm("cases.sync_cases")
    )


def sees_team_analytics(user) -> bool:
    """Leads, admins and auditors see the team's dashboards (view_team_analytics)."""
    return _active(user) and user.has_perm("cases.view_team_analytics")


def analytics_analyst_filter(user) -> int | None:
    """Whose figures the dashboards show user: None for the whole team (leads, auditors,
    admins), else user's own id (an analyst sees their own throughput, closes and labels).
    Callers have checked the user may read cases at all."""
    return None if sees_team_analytics(user) else user.pk


def may_read_cases(user) -> bool:
    """Holds a role that reads cases at all (the rest get a 403 before any case is looked up)."""
    return _active(user) and user.has_perm("cases.view_case")


def my_queue_ids(user) -> QuerySet:
    """The ids of the queues the user belongs to, as a subquery."""
    return Queue.members.through.objects.filter(user_id=user.pk).values("queue_id")


def worked_case_ids(user) -> Q:
    """Cases the user worked before: notes, attachments, decisions, labels (as a condition)."""
    return (
        Q(pk__in=Note.objects.filter(author_id=user.pk).values("case_id"))
        | Q(pk__in=Attachment.objects.filter(uploaded_by_id=user.pk).values("case_id"))
        | Q(pk__in=Transaction.objects.filter(decided_by_id=user.pk).values("case_id"))
        | Q(pk__in=LabelVersion.objects.filter(analyst_id=user.pk).values("case_id"))
    )


def visible_cases(user, cases: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """The cases user may read (of the given queryset, default all cases)."""
    cases = Case.objects.all() if cases is None else cases
    if sees_every_case(user):
        return cases
    if not may_read_cases(user):
        return cases.none()
    return cases.filter(
        Q(queue_id__in=my_queue_ids(user)) | Q(assignee_id=user.pk) | worked_case_ids(user)
    )


def visible_transactions(user, transactions: QuerySet[Transaction] | None = None):
    """Transactions of the cases user may read."""
    transactions = Transaction.objects.all() if transactions is None else transactions
    if sees_every_case(user):
        return transactions
    return transactions.filter(case_id__in=visible_cases(user).values("pk"))


def visible_case_ids(user, case_ids) -> set[int]:
    """Of these case ids, the ones user may read (one query; none when every case is seen)."""
    case_ids = set(case_ids)
    if sees_every_case(user) or not case_ids:
        return case_ids
    return set(visible_cases(user).filter(pk__in=case_ids).values_list("pk", flat=True))


def visible_account_ids(user, account_ids) -> set[str]:
    """Of these accounts, those with at least one case user may read (one query)."""
    account_ids = set(account_ids)
    if sees_every_case(user) or not account_ids:
        return account_ids
    return set(
        visible_cases(user)
        .filter(account_id__in=account_ids)
        .values_list("account_id", flat=True)
        .distinct()
    )


def can_view_case(user, case: Case) -> bool:
    if sees_every_case(user):
        return True
    if not may_read_cases(user):
        return False
    if case.assignee_id == user.pk:
        return True
    return visible_cases(user).filter(pk=case.pk).exists()


def can_work_case(user, case: Case) -> bool:
    """Leads work any case; analysts the cases of the queues they belong to."""
    if not _active(user):
        return False
    if user.has_perm("cases.work_any_case"):
        return True
    return (
        user.has_perm("cases.work_case")
        and case.queue_id is not None
        and Queue.members.through.objects.filter(queue_id=case.queue_id, user_id=user.pk).exists()
    )


def can_take_over(user) -> bool:
    """Taking a case someone else holds is a lead's action (assign_case)."""
    return _active(user) and user.has_perm("cases.assign_case")


def require_permission(actor, permission: str, *, attempted: str) -> None:
    """Refuse unless the actor holds cases.<permission> (raises ActionNotPermitted)."""
    if actor is None or not actor.is_active or not actor.has_perm(f"cases.{permission}"):
        raise ActionNotPermitted(
            f"{_actor_name(actor)} may not {attempted.replace('_', ' ')}: "
            f"the role lacks the '{permission}' permission"
        )


def _actor_name(actor) -> str:
    return actor.get_username() if actor is not None and actor.is_authenticated else "anonymous"
