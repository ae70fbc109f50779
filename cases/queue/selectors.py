"""Reads for the triage queue: tabs, live counts, and one page of cases to work.

Every read here costs a fixed number of queries whatever the page shows: the list sorts and
filters on the case's own aggregate columns (transaction-level search and filters are EXISTS
subqueries), then the page's 50 rows get their assignees, tags and latest countries in one
query each.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import (
    Aggregate,
    BooleanField,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as SqlCase

from cases.clock import DatabaseNow
from cases.dateranges import day_end, day_start
from cases.errors import ActionNotPermitted, InvalidInput
from cases.models import (
    FINISHED_CASE_STATUSES,
    REFERENCE_PREFIX,
    Case,
    Queue,
    Transaction,
)
from cases.policies import my_queue_ids, sees_every_case, visible_cases

PAGE_SIZE = 50
TAB_MINE, TAB_UNASSIGNED, TAB_ALL = "mine", "unassigned", "all"
# Leads' tab of cases in no queue (opened while no queue could take them).
TAB_UNROUTED = "unrouted"
QUEUE_TAB_PREFIX = "queue-"

# Sort keys the page offers: the column(s) they order by, and whether "ascending" runs
# against the column (age grows as opened_at goes back in time).
SORT_COLUMNS: dict[str, tuple[str, bool]] = {
    "reference": ("pk", False),
    "account": ("account_id", False),
    "priority": ("priority", False),
    "score": ("max_similarity_score", False),
    "neighbours": ("neighbour_fraud_score", False),
    "outcome": ("outcome_rank", False),
    "amount": ("amount_reporting", False),  # in the reporting currency (cases.currency)
    "country": ("latest_country", False),
    "transactions": ("transaction_count", False),
    "sla": ("due_at", False),
    "assignee": ("assignee__username", False),
    "queue": ("queue__name", False),
    # Age runs from the first flag: the case's earliest transaction, not when it was ingested.
    "age": ("first_flagged_at", True),
}
NULLABLE_SORT_COLUMNS = {
    "due_at", "assignee__username", "latest_country", "neighbour_fraud_score", "queue__name",
    "first_flagged_at",
}  # fmt: skip
DEFAULT_SORT = "-priority"
OUTCOME_RANK = SqlCase(
    When(worst_outcome="block", then=Value(3)),
    When(worst_outcome="investigate", then=Value(2)),
    When(worst_outcome="approve", then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)
LIST_FIELDS = (
    "id", "account_id", "status", "priority", "max_similarity_score", "worst_outcome",
    "amount_at_risk", "amount_reporting", "rate_missing", "currency", "transaction_count",
    "opened_at", "due_at", "queue_id", "version",
    "assignee", "neighbour_fraud_score", "neighbour_summary",
)  # fmt: skip


@dataclass(frozen=True)
class QueueTab:
    key: str
    label: str
    queue_id: int | None = None


@dataclass(frozen=True)
class QueueFilters:
    """What the analyst narrowed the list to; empty values filter nothing.

    status "" means every unfinished status (closed and merged cases only when asked for).
    assignee: "" anyone, "none" nobody, "me", or a user id. opened_to is inclusive.
    """

    status: str = ""
    assignee: str = ""
    score_min: float | None = None
    score_max: float | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    country: str = ""
    opened_from: date | None = None
    opened_to: date | None = None
    tag: str = ""
    search: str = ""
    queue: str = ""  # "" any, "none" unrouted, or a queue id
    sla_breached: bool = False

    @property
    def any_set(self) -> bool:
        return any(
            value is not False and value not in ("", None) for value in self.__dict__.values()
        )


@dataclass(frozen=True)
class QueuePage:
    tab: str
    sort: str
    page: Page

    @property
    def total(self) -> int:
        return self.page.paginator.count


def queue_default_tab(user) -> str:
    """Unassigned work for those who work cases (or have no role); everything for auditors."""
    if user.has_perm("cases.work_case") or not sees_every_case(user):
        return TAB_UNASSIGNED
    return TAB_ALL


def queue_tabs(*, user) -> list[QueueTab]:
    """My cases, unassigned, one tab per queue (the user's own; every queue for leads), all.

    One query (the queues).
    """
    every = sees_every_case(user)
    queues = Queue.objects.order_by("routing_order", "name")
    if not every:
        queues = queues.filter(members=user)
    tabs = [QueueTab(TAB_MINE, "My cases"), QueueTab(TAB_UNASSIGNED, "Unassigned")]
    tabs += [
        QueueTab(f"{QUEUE_TAB_PREFIX}{queue.pk}", queue.name, queue.pk)
        for queue in queues.only("id", "name")
    ]
    if every:
        tabs.append(QueueTab(TAB_UNROUTED, "Unrouted"))
        tabs.append(QueueTab(TAB_ALL, "All"))
    return tabs


def queue_tab_counts(*, user, tabs: list[QueueTab]) -> dict[str, int]:
    """Unfinished cases per tab, as the user may see them: one aggregate query."""
    aggregates = {}
    for index, tab in enumerate(tabs):
        if tab.key == TAB_MINE:
            condition = Q(assignee=user)
        elif tab.key in (TAB_UNASSIGNED, TAB_UNROUTED):
            condition = _tab_condition(user, tab.key)
        elif tab.queue_id is not None:
            condition = Q(queue_id=tab.queue_id)
        else:
            condition = None
        # COUNT(1), not COUNT(id): an index on the filtered columns can answer it alone.
        aggregates[f"tab_{index}"] = Count(Value(1), filter=condition)
    counts = visible_cases(user).exclude(status__in=FINISHED_CASE_STATUSES).aggregate(**aggregates)
    return {tab.key: counts[f"tab_{index}"] for index, tab in enumerate(tabs)}


def case_queue(
    *,
    user,
    tab: str,
    filters: QueueFilters,
    sort: str,
    page: int | str,
    known_total: int | None = None,
) -> QueuePage:
    """One page (PAGE_SIZE rows) of the cases on a tab, filtered, searched and sorted.

    Cases outside the user's reach never show: analysts see the cases of their queues and
    those assigned to them; leads, admins and auditors see every case. "all" and other
    people's queues are refused (ActionNotPermitted); an unknown tab or sort is InvalidInput.
    Ordering is total: the sort column (nulls last), then opened_at and id.

    A fixed number of queries whatever the page shows: the count (skipped when the caller
    passes known_total, e.g. the tab's count when nothing is filtered), the page's ids, then
    for those ids their rows (with their queue), assignees, tags, and facts from their
    transactions (latest country; first flag and currencies). Sorting by country or by age
    computes every candidate's latest country or first flag: the slow sorts on a big queue.
    """
    tab = tab or queue_default_tab(user)
    sort = sort or DEFAULT_SORT
    ordering = _ordering(sort)
    candidates = visible_cases(user).filter(_tab_condition(user, tab))
    candidates = _sort_annotations(_apply_filters(candidates, user=user, filters=filters), sort)
    # Sort the narrow id column of every candidate; whole rows only for the page's 50.
    paginator = Paginator(candidates.order_by(*ordering).values("pk"), PAGE_SIZE)
    if known_total is not None:
        paginator.__dict__["count"] = known_total  # Paginator.count is a cached property
    shown = paginator.get_page(page)
    assignees = get_user_model().objects.only("id", "username")
    rows = (
        Case.objects.filter(pk__in=shown.object_list)
        .select_related("queue")
        .only(*LIST_FIELDS, "queue__name")
        .annotate(
            # The database's clock (cases.clock): the SLA is the same on every web host.
            sla_breached=ExpressionWrapper(
                Q(due_at__lt=DatabaseNow()), output_field=BooleanField()
            ),
            database_now=DatabaseNow(),
        )
        .prefetch_related(Prefetch("assignee", queryset=assignees), "tags")
    )
    shown.object_list = list(_sort_annotations(rows, sort).order_by(*ordering))
    _attach_transaction_facts(shown.object_list)
    return QueuePage(tab=tab, sort=sort, page=shown)


def cases_exist() -> bool:
    return Case.objects.exists()


# --- the parts of the query ------------------------------------------------------------------


def _tab_condition(user, tab: str) -> Q:
    if tab == TAB_MINE:
        return Q(assignee_id=user.pk)
    if tab == TAB_UNASSIGNED:
        if sees_every_case(user):
            return Q(assignee__isnull=True)
        # Work waiting in my queues (not every case I may read, such as ones I worked before).
        return Q(assignee__isnull=True, queue_id__in=my_queue_ids(user))
    if tab == TAB_UNROUTED:
        if not sees_every_case(user):
            raise ActionNotPermitted(
                f"{user.get_username()} may not list unrouted cases: only leads, admins and "
                "auditors may"
            )
        return Q(queue__isnull=True)
    if tab == TAB_ALL:
        if not sees_every_case(user):
            raise ActionNotPermitted(
                f"{user.get_username()} may not list every case: only leads, admins and "
                "auditors may; use your queues' tabs"
            )
        return Q()
    queue_id = tab.removeprefix(QUEUE_TAB_PREFIX)
    if tab.startswith(QUEUE_TAB_PREFIX) and queue_id.isdecimal() and len(queue_id) <= 18:
        if not sees_every_case(user) and not user.queues.filter(pk=int(queue_id)).exists():
            raise ActionNotPermitted(
                f"{user.get_username()} may not list queue {queue_id}: not one of your queues"
            )
        return Q(queue_id=int(queue_id))
    raise InvalidInput(f"{tab!r} is not a tab of the queue")


def _apply_filters(cases: QuerySet[Case], *, user, filters: QueueFilters) -> QuerySet[Case]:
    if filters.status:
        cases = cases.filter(status=filters.status)
    else:
        cases = cases.exclude(status__in=FINISHED_CASE_STATUSES)
    if filters.assignee == "none":
        cases = cases.filter(assignee__isnull=True)
    elif filters.assignee == "me":
        cases = cases.filter(assignee_id=user.pk)
    elif filters.assignee:
        cases = cases.filter(assignee_id=int(filters.assignee))
    if filters.score_min is not None:
        cases = cases.filter(max_similarity_score__gte=filters.score_min)
    if filters.score_max is not None:
        cases = cases.filter(max_similarity_score__lte=filters.score_max)
    if filters.amount_min is not None:
        cases = cases.filter(amount_reporting__gte=filters.amount_min)
    if filters.amount_max is not None:
        cases = cases.filter(amount_reporting__lte=filters.amount_max)
    if filters.opened_from is not None:
        cases = cases.filter(opened_at__gte=day_start(filters.opened_from))
    if filters.opened_to is not None:
        cases = cases.filter(opened_at__lt=day_end(filters.opened_to))
    if filters.country:
        in_country = Transaction.objects.filter(case_id=OuterRef("pk"), country=filters.country)
        cases = cases.filter(Exists(in_country))
    if filters.tag:
        tagged = Case.tags.through.objects.filter(case_id=OuterRef("pk"), tag__name=filters.tag)
        cases = cases.filter(Exists(tagged))
    if filters.search.strip():
        cases = cases.filter(_search_condition(filters.search.strip()))
    if filters.queue == "none":
        cases = cases.filter(queue__isnull=True)
    elif filters.queue:
        cases = cases.filter(queue_id=int(filters.queue))
    if filters.sla_breached:
        # The database's clock (cases.clock), as the SLA column shows it.
        cases = cases.filter(due_at__lt=DatabaseNow())
    return cases


def _sort_annotations(cases: QuerySet[Case], sort: str) -> QuerySet[Case]:
    key = sort.lstrip("-")
    if key == "outcome":
        return cases.annotate(outcome_rank=OUTCOME_RANK)
    if key == "country":
        return cases.annotate(latest_country=Subquery(_latest_country))
    if key == "age":
        return cases.annotate(first_flagged_at=Subquery(_first_flagged))
    return cases


_latest_country = (
    Transaction.objects.filter(case_id=OuterRef("pk"))
    .order_by("-occurred_at", "-id")
    .values("country")[:1]
)
_first_flagged = (
    Transaction.objects.filter(case_id=OuterRef("pk"))
    .order_by("occurred_at")
    .values("occurred_at")[:1]
)


class _LatestCountry(Aggregate):
    """The country of the group's most recent transaction (ties: the highest id)."""

    template = "(array_agg(%(expressions)s ORDER BY occurred_at DESC, id DESC))[1]"
    output_field = CharField()


def _attach_transaction_facts(cases: list[Case]) -> None:
    """Per case, from its transactions (one query for the page): the country of the most
    recent one and the time of the earliest (the first flag, where the case's age starts). The
    currency is the case's own (cases.currency: blank when its transactions mix several)."""
    facts = {
        row["case_id"]: row
        for row in Transaction.objects.filter(case_id__in=[case.pk for case in cases])
        .values("case_id")
        .annotate(
            latest_country=_LatestCountry("country"),
            first=Min("occurred_at"),
        )
    }
    for case in cases:
        row = facts.get(case.pk)
        case.latest_country = row["latest_country"] if row else ""
        case.first_flagged_at = row["first"] if row else None


def _search_condition(term: str) -> Q:
    """A case reference (FC-000123 or 123), part of an account id, or exactly a transaction
    id, source IP or device id of one of its transactions."""
    condition = Q(account_id__icontains=term)
    number = term.upper().removeprefix(REFERENCE_PREFIX)
    if number.isdecimal() and len(number) <= 18:  # not isdigit: int("²") fails
        condition |= Q(pk=int(number))
    matches = Q(transaction_id=term) | Q(device_id=term)
    with contextlib.suppress(ValueError):  # not an address: only the text columns can match
        matches |= Q(source_ip=str(ipaddress.ip_address(term)))
    return condition | Exists(Transaction.objects.filter(matches, case_id=OuterRef("pk")))


def _ordering(sort: str) -> list:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_COLUMNS:
        raise InvalidInput(f"cannot sort by {key!r}; choose one of {', '.join(SORT_COLUMNS)}")
    column, inverted = SORT_COLUMNS[key]
    if descending == inverted:
        first = F(column).asc()  # PostgreSQL puts nulls last when ascending
    elif column in NULLABLE_SORT_COLUMNS:
        first = F(column).desc(nulls_last=True)
    else:
        # No NULLS LAST on a column without nulls: an index on (column DESC) serves it as is.
        first = F(column).desc()
    return [first, "opened_at", "id"] if key not in ("reference", "age") else [first, "id"]
