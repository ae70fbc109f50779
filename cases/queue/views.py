"""The triage queue: the list (page and htmx partial), claim next, and bulk actions."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cases.audit.trail import refusals_audited
from cases.casefile.selectors import duration_text
from cases.dateranges import DayField, form_check_order
from cases.errors import CaseError
from cases.http import may_view_cases, may_work_cases, url_for_each
from cases.models import CaseStatus
from cases.queue.choices import (
    false_positive_reason_codes,
    queue_assignable_users,
    queue_filter_choices,
)
from cases.queue.selectors import (
    PAGE_SIZE,
    QueueFilters,
    case_queue,
    cases_exist,
    queue_default_tab,
    queue_tab_counts,
    queue_tabs,
)
from cases.workflow import services

# (sort key, heading, its long form if abbreviated, direction of the first click: "-" for
# the biggest or most urgent first)
COLUMNS = (
    ("reference", "Case", "", ""),
    ("account", "Account", "", ""),
    ("priority", "Priority", "", "-"),
    ("score", "Top score", "Highest similarity score", "-"),
    ("neighbours", "Neighbours", "Nearest labelled neighbours that were fraud", "-"),
    ("outcome", "Detector", "Detector outcome (sternest)", "-"),
    ("amount", "At risk", "Amount at risk", "-"),
    ("country", "Country", "Country of the latest transaction", ""),
    ("transactions", "Tx", "Number of transactions", "-"),
    ("sla", "SLA left", "Time left before the SLA is breached", ""),
    ("assignee", "Assignee", "", ""),
    ("queue", "Queue", "", ""),
    ("age", "Age", "Time since the first flag (the case's earliest transaction)", "-"),
)
NUMERIC_COLUMNS = {"priority", "score", "neighbours", "amount", "transactions"}
BULK_ACTIONS = (
    ("assign", "Assign"),
    ("assign_to_me", "Assign to me"),
    ("close_false_positive", "Close as false positive"),
    ("tag", "Add tags"),
)
MAX_BULK_CASES = 200
MAX_MESSAGES_LISTED = 5


class QueueFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any open status"), *CaseStatus.choices]
    )
    assignee = forms.RegexField(required=False, regex=r"^(none|me|[1-9]\d{0,8})$")
    score_min = forms.FloatField(required=False, min_value=0, max_value=1, label="Score from")
    score_max = forms.FloatField(required=False, min_value=0, max_value=1, label="Score to")
    amount_min = forms.DecimalField(
        required=False, min_value=0, max_digits=20, decimal_places=2, label="At risk from"
    )
    amount_max = forms.DecimalField(
        required=False, min_value=0, max_digits=20, decimal_places=2, label="At risk to"
    )
    country = forms.RegexField(
        required=False, regex=r"^[A-Za-z]{2}$", error_messages={"invalid": "two letters"}
    )
    opened_from = DayField(required=False, label="Opened from")
    opened_to = DayField(required=False, label="Opened to")
    tag = forms.SlugField(required=False, max_length=64)
    queue = forms.RegexField(required=False, regex=r"^(none|[1-9]\d{0,8})$")
    sla_breached = forms.BooleanField(required=False, label="SLA breached")

    def clean_country(self) -> str:
        return self.cleaned_data["country"].upper()

    def clean(self):
        cleaned = super().clean()
        form_check_order(self, "opened_from", "opened_to")
        return cleaned

    def filters(self) -> QueueFilters:
        """The valid fields as filters (an invalid field filters nothing and shows its error;
        the opened range is used whole or not at all)."""
        self.is_valid()
        valid = {
            name: value for name, value in self.cleaned_data.items() if name not in self.errors
        }
        if "opened_from" in self.errors or "opened_to" in self.errors:
            for name in ("opened_from", "opened_to"):
                valid.pop(name, None)
        return QueueFilters(
            status=valid.get("status", ""),
            assignee=valid.get("assignee", ""),
            score_min=valid.get("score_min"),
            score_max=valid.get("score_max"),
            amount_min=valid.get("amount_min"),
            amount_max=valid.get("amount_max"),
            country=valid.get("country", ""),
            opened_from=valid.get("opened_from"),
            opened_to=valid.get("opened_to"),
            tag=valid.get("tag", ""),
            search=valid.get("q", ""),
            queue=valid.get("queue", ""),
            sla_breached=bool(valid.get("sla_breached")),
        )


class CaseIdsField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        try:
            ids = sorted({int(item) for item in value or []})
        except (TypeError, ValueError):
            raise ValidationError("case ids are numbers") from None
        if any(not 0 < case_id < 2**63 for case_id in ids):
            raise ValidationError("no such case id")
        if not ids:
            raise ValidationError("select at least one case")
        if len(ids) > MAX_BULK_CASES:
            raise ValidationError(f"select at most {MAX_BULK_CASES} cases at once")
        return ids


class WordsField(forms.Field):
    """Several values: repeated fields, each also split at commas and spaces (tags typed as
    "mule, crypto"); duplicates dropped, order kept."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        words = []
        for item in value or []:
            words += [word for word in str(item).replace(",", " ").split() if word]
        words = list(dict.fromkeys(words))
        if any(len(word) > 64 for word in words):
            raise ValidationError("each value is at most 64 characters")
        if len(words) > 20:
            raise ValidationError("at most 20 values at once")
        return words


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=BULK_ACTIONS)
    case_ids = CaseIdsField()
    assignee = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    reason_code = WordsField(required=False)
    comment = forms.CharField(required=False, max_length=20_000)
    # A lead taking over cases that colleagues hold says why (the analyst's own are refused).
    reason = forms.CharField(required=False, max_length=2000)
    tag = WordsField(required=False)
    query = forms.CharField(required=False, max_length=2000)

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        if action == "close_false_positive" and not (
            cleaned.get("reason_code") and (cleaned.get("comment") or "").strip()
        ):
            raise ValidationError("Closing as false positive needs a reason code and a comment.")
        if action == "tag" and not cleaned.get("tag"):
            raise ValidationError("Type the tags to add.")
        return cleaned


@require_GET
@may_view_cases
def queue_page(request):
    """The queue as a whole page; /cases/ with HX-Request gives the rows and counts only."""
    partial = request.headers.get("HX-Request") == "true"
    return _render_queue(request, request.GET, partial=partial)


@require_POST
@may_work_cases
def queue_claim_next(request):
    """Take the highest-priority unassigned case of my queues and open it."""
    try:
        case = services.case_claim_next(actor=request.user)
    except CaseError as error:
        messages.error(request, error.message)
        return redirect("home")
    if case is None:
        messages.info(request, "Nothing is waiting in your queues: every open case is assigned.")
        return redirect("home")
    messages.success(request, f"{case.reference} is yours now.")
    return redirect(case_detail_url(case.reference))


@require_POST
@may_work_cases
def queue_bulk(request):
    """Assign, close as false positive or tag the selected cases; back to the same list.

    Permission first (may_work_cases): a role that works no cases gets a 403 whatever the form
    says (the services still check each case).
    """
    form = BulkActionForm(request.POST)
    query = QueryDict(request.POST.get("query", "")[:2000])
    if not form.is_valid():
        for error in [*form.non_field_errors(), *_field_errors(form)]:
            messages.error(request, error)
    else:
        data = form.cleaned_data
        action = data["action"]
        if action == "assign" and data["assignee"] not in (None, request.user.pk):
            _bulk_assign_to(request, data["case_ids"], data["assignee"])
        elif action in ("assign", "assign_to_me"):
            outcome = services.cases_bulk_assign_to_me(
                actor=request.user, case_ids=data["case_ids"], reason=data["reason"]
            )
            _report_case_by_case(request, outcome, "assigned to you")
        elif action == "close_false_positive":
            outcome = services.cases_bulk_close_false_positive(
                actor=request.user, case_ids=data["case_ids"],
                reason_codes=data["reason_code"], comment=data["comment"],
            )  # fmt: skip
            _report_case_by_case(request, outcome, "closed as false positive")
        else:
            _bulk_tag(request, data["case_ids"], [tag.lower() for tag in data["tag"]])
    if request.headers.get("HX-Request") == "true":
        return _render_queue(request, query, partial=True, with_messages=True)
    return redirect(reverse("home") + (f"?{query.urlencode()}" if query else ""))


def case_detail_url(reference: str) -> str:
    return reverse("case-detail", kwargs={"reference": reference})


# --- helpers -----------------------------------------------------------------------------------


def _render_queue(request, params: QueryDict, *, partial: bool, with_messages: bool = False):
    user = request.user
    form = QueueFilterForm(params)
    filters = form.filters()
    tabs = queue_tabs(user=user)
    counts = queue_tab_counts(user=user, tabs=tabs)
    problem, status, result = "", 200, None
    tab = params.get("tab") or queue_default_tab(user)
    try:
        with refusals_audited(actor=user, attempted="list cases", object_type="cases.case"):
            result = case_queue(
                user=user, tab=tab, filters=filters, sort=params.get("sort", ""),
                page=params.get("page", 1),
                # Nothing filtered: the tab's count is the total, no second count needed.
                known_total=None if filters.any_set else counts.get(tab),
            )  # fmt: skip
    except CaseError as error:
        problem, status = error.message, error.http_status
    rows = list(result.page) if result else []
    _decorate_rows(rows)
    context = {
        "result": result,
        "rows": rows,
        "tabs": [{"key": t.key, "label": t.label, "count": counts[t.key]} for t in tabs],
        "tab": tab,
        "columns": _columns(result.sort if result else ""),
        "form": form,
        "filters_set": filters.any_set,
        "problem": problem,
        "oob": partial,
        "with_messages": with_messages,
        "page_size": PAGE_SIZE,
        "query": _list_query(params),
        "now": timezone.now(),
    }
    if not rows and not problem:
        context["no_cases_at_all"] = not cases_exist()
    if partial:
        return render(request, "cases/_queue_rows.html", context, status=status)
    context.update(
        # The tabs' queues are the filter's: same queues, same order (no second query).
        queue_filter_choices(
            user=user, queues=[(t.queue_id, t.label) for t in tabs if t.queue_id is not None]
        ),
        assignable_users=queue_assignable_users() if user.has_perm("cases.assign_case") else [],
        reason_codes=false_positive_reason_codes(),
        can_claim=user.has_perm("cases.work_case"),
        bulk_actions=BULK_ACTIONS,
    )
    return render(request, "cases/queue.html", context, status=status)


def _list_query(params: QueryDict) -> str:
    """The list's query string for refreshes and bulk actions (every filter, no page reset)."""
    kept = params.copy()
    kept.pop("csrfmiddlewaretoken", None)
    return kept.urlencode()


def _columns(sort: str) -> list[dict]:
    current = sort.lstrip("-")
    descending = sort.startswith("-")
    columns = []
    for key, label, long_label, first in COLUMNS:
        if key == current:
            aria_sort = "descending" if descending else "ascending"
            next_sort = key if descending else f"-{key}"
        else:
            aria_sort, next_sort = "", f"{first}{key}"
        columns.append(
            {"key": key, "label": label, "long_label": long_label, "aria_sort": aria_sort,
             "next_sort": next_sort, "numeric": key in NUMERIC_COLUMNS}
        )  # fmt: skip
    return columns


def _decorate_rows(rows) -> None:
    """Each row's case and account URLs, its texts (status, outcome, amounts, assignee) and
    short texts for its SLA time left (or overdue) and age, by the database's clock as the
    rows were read (case_queue's database_now). Made here once rather than by template tags
    and filters in every row: they were most of the page's rendering time."""
    now = rows[0].database_now if rows else None
    url_pattern = case_detail_url("FC-REFERENCE")  # one reverse() for the whole page
    account_url = url_for_each("account-detail")
    for case in rows:
        case.detail_url = url_pattern.replace("FC-REFERENCE", case.reference)
        case.account_url = account_url(case.account_id)
        case.status_text = case.get_status_display()
        case.outcome_text = case.get_worst_outcome_display() if case.worst_outcome else ""
        case.tag_names = [tag.name for tag in case.tags.all()]
        case.assignee_name = case.assignee.get_username() if case.assignee_id else ""
        case.queue_name = case.queue.name if case.queue_id else ""
        # As cases/_case_amount.html shows them (floatformat:"2g").
        case.amount_reporting_text = floatformat(case.amount_reporting, "2g")
        case.amount_at_risk_text = floatformat(case.amount_at_risk, "2g")
        case.score_text = f"{case.max_similarity_score:.3f}"
        summary = case.neighbour_summary or {}
        case.neighbours_text = (
            f"{summary['fraud']}/{summary['labelled']} fraud" if summary.get("labelled") else "—"
        )
        case.opened_text = case.opened_at.strftime("%Y-%m-%d %H:%M")
        first_flag = case.first_flagged_at or case.opened_at
        case.first_flagged_text = first_flag.strftime("%Y-%m-%d %H:%M")
        case.age_text = duration_text(now - first_flag)
        if case.due_at is None:
            case.sla_text = "—"
        elif case.due_at >= now:
            case.sla_text = duration_text(case.due_at - now)
        else:
            case.sla_text = f"overdue {duration_text(now - case.due_at)}"


def _report_case_by_case(request, outcome: services.BulkOutcome, done: str) -> None:
    if outcome.changed:
        references = [case.reference for case in outcome.changed]
        messages.success(request, f"{_references(references)} {done}.")
    _report_refusals(request, outcome.refusals)


def _bulk_assign_to(request, case_ids: list[int], assignee_id: int) -> None:
    """Assign to someone else (leads): all the cases or none."""
    try:
        cases = services.cases_bulk_assign(
            actor=request.user, case_ids=case_ids, assignee_id=assignee_id
        )
    except CaseError as error:
        messages.error(request, f"Nothing was assigned: {error.message}")
        return
    name = cases[0].assignee.get_username() if cases and cases[0].assignee else "them"
    messages.success(request, f"{_references([c.reference for c in cases])} assigned to {name}.")


def _bulk_tag(request, case_ids: list[int], tags: list[str]) -> None:
    try:
        cases = services.cases_bulk_tag(actor=request.user, case_ids=case_ids, add=tags)
    except CaseError as error:
        messages.error(request, f"Nothing was tagged: {error.message}")
        return
    messages.success(
        request, f"{_references([c.reference for c in cases])} tagged {', '.join(tags)}."
    )


def _report_refusals(request, refusals: list[str]) -> None:
    for message in refusals[:MAX_MESSAGES_LISTED]:
        messages.error(request, message)
    if len(refusals) > MAX_MESSAGES_LISTED:
        messages.error(request, f"… and {len(refusals) - MAX_MESSAGES_LISTED} more refused.")


def _references(references: list[str]) -> str:
    if len(references) <= MAX_MESSAGES_LISTED:
        return ", ".join(references)
    shown = ", ".join(references[:MAX_MESSAGES_LISTED])
    return f"{shown} and {len(references) - MAX_MESSAGES_LISTED} more"


def _field_errors(form: forms.Form) -> list[str]:
    return [
        f"{form.fields[name].label or name.replace('_', ' ')}: {' '.join(errors)}"
        for name, errors in form.errors.items()
        if name != "__all__"
    ]
