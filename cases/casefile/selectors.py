"""Reads for the case page: the case and its transactions, why each was flagged, the account's
timeline, notes (rendered and sanitised), attachments, history from the audit trail, and the
actions a user may take. Every read here is a fixed number of queries, however many
transactions the case holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q

from cases.casefile.explain import (
    POPULATION_SAMPLE,
    Explanation,
    explain_transactions,
    population_feature_stats,
)
from cases.casefile.neighbours import (
    CaseNeighbours,
    case_neighbours,
    explain_with_nearest_frauds,
)
from cases.casefile.notes import case_notes
from cases.casefile.related import related_cases
from cases.clock import DatabaseNow, database_now
from cases.errors import InvalidInput
from cases.ips.selectors.curation import NetworkSignals, attach_signals
from cases.models import (
    FINISHED_CASE_STATUSES,
    REFERENCE_PREFIX,
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    Note,
    ReasonCode,
    Resolution,
    Transaction,
    parse_case_reference,
)
from cases.policies import (
    TRANSITIONS,
    allowed_transitions,
    can_take_over,
    can_work_case,
    visible_case_ids,
    visible_cases,
)
from cases.similarity.selectors import NeighbourVerdict, SimilarTransactions

# The timeline and the account's own baseline use at most this many of its latest transactions.
ACCOUNT_HISTORY_LIMIT = 2000
HISTORY_LIMIT = 200
CASE_OBJECT_TYPE = "cases.case"
TRANSACTION_OBJECT_TYPE = "cases.transaction"


def case_detail(reference: str, *, viewer=None) -> Case | None:
    """The case named by reference (FC-000123, 000123 or 123) with assignee, queue, the case
    it was merged into and tags loaded; None when unknown, malformed, or (given a viewer) not
    one the viewer may read: to them it does not exist."""
    try:
        pk = parse_case_reference(reference)
    except InvalidInput:
        return None
    cases = Case.objects.all() if viewer is None else visible_cases(viewer)
    return (
        cases.select_related("assignee", "queue", "merged_into")
        .prefetch_related("tags")
        .annotate(database_now=DatabaseNow())  # the SLA's clock (cases.clock), read with the case
        .filter(pk=pk)
        .first()
    )


def _shown_transactions(case: Case):
    return case.transactions.select_related("decided_by", "labelled_by").defer("embedding")


def case_transactions(case: Case) -> list[Transaction]:
    """The case's transactions, oldest first, with who decided and labelled them (no embeddings)."""
    return list(_shown_transactions(case).order_by("occurred_at", "id"))


def case_transaction(case: Case, transaction_id: str) -> Transaction | None:
    """One of the case's transactions, loaded as case_transactions loads them; None if not its."""
    return _shown_transactions(case).filter(transaction_id=transaction_id).first()


def account_transactions(account_id: str, *, limit: int = ACCOUNT_HISTORY_LIMIT) -> list[dict]:
    """The account's latest transactions (all its cases), oldest first, as plain rows."""
    rows = list(
        Transaction.objects.filter(account_id=account_id)
        .order_by("-occurred_at", "-id")
        .values(
            "id", "transaction_id", "occurred_at", "amount", "currency", "case_id", "decision",
            "label", "features", "similarity_score",
        )[:limit]
    )  # fmt: skip
    rows.reverse()
    return rows


def account_timeline(case: Case, account_rows: list[dict], readable=None) -> list[dict]:
    """Points for the account's timeline: time, amount, what became of each (rows of cases in
    readable only, None: all; the others' are counted on the page)."""
    points = []
    for row in account_rows:
        if readable is not None and row["case_id"] not in readable:
            continue
        where = "This case" if row["case_id"] == case.pk else "Other cases"
        if row["label"]:
            status = f"labelled {row['label']}"
        elif row["decision"]:
            status = "decided, no label"
        else:
            status = "flagged, undecided"
        points.append(
            {
                "t": row["occurred_at"].isoformat(),
                "amount": float(row["amount"]),
                "currency": row["currency"],
                "id": row["transaction_id"],
                "score": row["similarity_score"],
                "decision": row["decision"],
                "label": row["label"],
                "in_case": row["case_id"] == case.pk,
                "group": f"{where}: {status}",
            }
        )
    return points


def merged_case_ids(case: Case) -> list[int]:
    """Ids of every case folded into this one, directly or through a chain of merges."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE folded(id) AS (
                SELECT id FROM {Case._meta.db_table} WHERE merged_into_id = %s
                UNION
                SELECT c.id FROM {Case._meta.db_table} c JOIN folded f ON c.merged_into_id = f.id
            )
            SELECT id FROM folded ORDER BY id
            """,
            [case.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def case_history(
    case: Case, *, transaction_ids: list[int], merged_ids: list[int], limit: int = HISTORY_LIMIT
) -> list[AuditEvent]:
    """The case's audit events, newest first: its own and those of the cases merged into it,
    plus the events of its transactions recorded while they belonged to one of those cases
    (after.case_id). Index-backed (object type and id), at most limit events."""
    case_ids = [case.pk, *merged_ids]
    condition = Q(object_type=CASE_OBJECT_TYPE, object_id__in=[str(pk) for pk in case_ids])
    if transaction_ids:
        condition |= Q(
            object_type=TRANSACTION_OBJECT_TYPE,
            object_id__in=[str(pk) for pk in transaction_ids],
            after__case_id__in=case_ids,
        )
    # Page views are for auditors (the trail), not the case's story.
    events = list(
        AuditEvent.objects.filter(condition)
        .exclude(action=AuditAction.CASE_VIEWED)
        .order_by("-id")[:limit]
    )
    for event in events:
        event.summary = audit_event_summary(event)
        event.is_refusal = event.action in (AuditAction.REFUSED, AuditAction.PERMISSION_DENIED)
    return events


def audit_event_summary(event: AuditEvent) -> str:
    """One line saying what changed, from the event's before and after values."""
    before, after = event.before or {}, event.after or {}
    if event.action in (AuditAction.REFUSED, AuditAction.PERMISSION_DENIED):
        return after.get("message", "")
    if event.object_type == TRANSACTION_OBJECT_TYPE:
        what = "decision" if "decision" in after else "label"
        return f"{event.object_repr}: {what} {after.get(what) or '—'} ({after.get('why', '')})"
    parts = []
    for key, value in after.items():
        if key in ("version", "note_id", "attachment_id", "sha256", "s3_key", "moved"):
            continue
        if key in before and before[key] != value:
            parts.append(f"{key}: {_short(before[key])} → {_short(value)}")
        elif key not in before:
            parts.append(f"{key}: {_short(value)}")
    return "; ".join(parts)


def _short(value, limit: int = 140) -> str:
    if value in (None, "", []):
        return "—"
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration_text(value: timedelta) -> str:
    """'2 d 4 h', '3 h 05 min' or '7 min' (whole minutes, rounded down; negative is 0 min)."""
    minutes = max(0, int(value.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def sla_text(due_at: datetime | None, *, now: datetime | None = None) -> tuple[str, bool]:
    """('due in 3 h 05 min', False) or ('overdue by 2 d 4 h', True); ('no SLA', False)."""
    if due_at is None:
        return "no SLA", False
    left = due_at - (now or database_now())
    span = duration_text(abs(left))
    return (f"overdue by {span}", True) if left < timedelta(0) else (f"due in {span}", False)


@dataclass
class CaseActions:
    """What the viewer may do on the case: the same rules the services apply."""

    can_work: bool = False
    assign_to_me: bool = False
    take_over: bool = False  # a lead taking a case someone else holds (with a reason)
    assign_others: bool = False
    assignee_choices: list = field(default_factory=list)
    unassign: bool = False
    transitions: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    reason_codes: list[ReasonCode] = field(default_factory=list)
    reopen: bool = False
    merge: bool = False
    annotate: bool = False
    decide: bool = False

    @property
    def any_case_action(self) -> bool:
        return any(
            (self.assign_to_me, self.take_over, self.assign_others, self.unassign, self.transitions,
             self.close, self.reopen, self.merge)
        )  # fmt: skip


def case_actions(case: Case, user) -> CaseActions:
    """The actions offered to user on case; a lead's assignee list and the close dialog's
    reason codes are loaded only when those actions are offered."""
    can_work = can_work_case(user, case)
    is_open = case.status not in FINISHED_CASE_STATUSES
    actions = CaseActions(can_work=can_work)
    actions.assign_to_me = can_work and is_open and case.assignee_id is None
    actions.take_over = (
        can_work and is_open and case.assignee_id not in (None, user.pk) and can_take_over(user)
    )
    actions.assign_others = is_open and user.has_perm("cases.assign_case")
    if actions.assign_others:
        actions.assignee_choices = assignee_choices(case)
    actions.unassign = (
        is_open
        and case.assignee_id is not None
        and (case.assignee_id == user.pk or user.has_perm("cases.assign_case"))
    )
    if can_work and is_open:
        actions.transitions = [
            (status, CaseStatus(status).label)
            for status in allowed_transitions(case)
            if status != CaseStatus.CLOSED
        ]
    actions.close = can_work and CaseStatus.CLOSED in TRANSITIONS.get(case.status, ())
    if actions.close:
        actions.reason_codes = list(ReasonCode.objects.filter(active=True).order_by("label"))
    actions.reopen = case.status == CaseStatus.CLOSED and user.has_perm("cases.reopen_case")
    actions.merge = is_open and user.has_perm("cases.merge_case")
    actions.annotate = can_work and case.status != CaseStatus.MERGED
    actions.decide = can_work and is_open
    return actions


def assignee_choices(case: Case) -> list:
    """Active users who may take the case: members of its queue who work cases, and anyone
    who works any case (as case_assign accepts)."""
    works = Q(groups__permissions__codename="work_case") | Q(user_permissions__codename="work_case")
    works_any = (
        Q(is_superuser=True)
        | Q(groups__permissions__codename="work_any_case")
        | Q(user_permissions__codename="work_any_case")
    )
    members = Q(queues=case.queue_id) & works if case.queue_id else Q(pk__in=[])
    return list(
        get_user_model()
        .objects.filter(is_active=True)
        .filter(works_any | members)
        .distinct()
        .order_by("username")
        .only("id", "username", "first_name", "last_name")
    )


@dataclass
class CasePage:
    """Everything the case page, its PDF report and its CSV export show."""

    case: Case
    transactions: list[Transaction]
    explanations: list[Explanation]
    timeline: list[dict]
    account_transaction_count: int
    notes: list[Note]
    attachments: list
    related: list[dict]
    history: list[AuditEvent]
    merged_from: list[str]
    sla: str
    sla_breached: bool
    related_hidden: int = 0  # related cases in queues the viewer may not read
    timeline_hidden: int = 0  # the account's rows in cases the viewer may not read (not drawn)
    similar: SimilarTransactions | None = None
    similar_hidden: int = 0  # neighbours in cases the viewer may not read (shown without ids)
    verdict: NeighbourVerdict | None = None
    neighbours: CaseNeighbours | None = None  # both lists, labelled and all (casefile.neighbours)
    network: NetworkSignals | None = None  # curation's VPN/proxy/hosting/Tor over the case
    population_sample: int = POPULATION_SAMPLE
    min_baseline: int = field(default_factory=lambda: settings.FRAUDCASE_EXPLAIN_MIN_BASELINE)
    timeline_limit: int = ACCOUNT_HISTORY_LIMIT
    resolutions: list = field(default_factory=lambda: Resolution.choices)


def case_page(case: Case, *, viewer, with_similar: bool = True) -> CasePage:
    """Read everything shown about the case (a fixed number of queries); with_similar adds
    the nearest transactions of other cases and the stored neighbour verdict. Other cases the
    viewer may not read (related, similar) show only as counts."""
    transactions = case_transactions(case)
    network = attach_signals(transactions)  # each transaction's .network, and their union
    account_rows = account_transactions(case.account_id)
    merged_ids = merged_case_ids(case)
    related = related_cases(case)
    # Which of the other cases named on the page (the account's timeline, related cases) the
    # viewer may read: one question to the policy for both.
    readable = visible_case_ids(
        viewer,
        {row["case_id"] for row in account_rows} | {item["case"].pk for item in related},
    )
    sla, breached = ("", False)
    if case.status not in FINISHED_CASE_STATUSES:
        sla, breached = sla_text(case.due_at, now=getattr(case, "database_now", None))
    page = CasePage(
        case=case,
        transactions=transactions,
        # The most suspicious first: that is where an analyst starts.
        explanations=explain_transactions(
            sorted(transactions, key=lambda tx: (-tx.similarity_score, tx.occurred_at, tx.pk)),
            account_rows,
            population_feature_stats(),
        ),
        timeline=account_timeline(case, account_rows, readable),
        account_transaction_count=len(account_rows),
        notes=case_notes(case),
        attachments=list(case.attachments.order_by("created_at", "id")),
        related=[],
        history=case_history(
            case, transaction_ids=[tx.pk for tx in transactions], merged_ids=merged_ids
        ),
        merged_from=[f"{REFERENCE_PREFIX}{pk:06d}" for pk in merged_ids],
        sla=sla,
        sla_breached=breached,
        network=network,
    )
    page.timeline_hidden = len(account_rows) - len(page.timeline)
    page.related = [item for item in related if item["case"].pk in readable]
    page.related_hidden = len(related) - len(page.related)
    if with_similar:
        page.neighbours = case_neighbours(case, viewer=viewer)
        page.similar = page.neighbours.similar
        page.similar_hidden = page.neighbours.similar_hidden
        page.verdict = page.neighbours.stored_verdict
        if page.explanations:  # the one shown open; the others' load with their fragment
            explain_with_nearest_frauds(page.explanations[0], case=case, viewer=viewer)
    return page
