"""Leads' pages: queues (members, SLA, routing rules, round robin) and reason codes.

Thin: a form, one service call (queue_save, reason_code_save: permission-checked, audited),
a message. A save that changes routing rules says how many cases it re-routed.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.cache import never_cache

from cases.errors import CaseError
from cases.http import problem, requires_permission
from cases.models import Queue
from cases.queueadmin.forms import QueueForm, ReasonCodeForm
from cases.queueadmin.selectors import (
    queues_for_management,
    reason_codes_for_management,
    unrouted_open_case_count,
)
from cases.workflow.services import queue_save, reason_code_save

may_manage_queues = requires_permission("manage_queues", attempted="manage queues")


@never_cache
@may_manage_queues
def queues_page(request):
    return render(
        request,
        "cases/manage/queues.html",
        {"rows": queues_for_management(), "unrouted": unrouted_open_case_count()},
    )


@never_cache
@may_manage_queues
def queue_edit(request, queue_id: int | None = None):
    queue = None
    if queue_id is not None:
        queue = Queue.objects.filter(pk=queue_id).first()
        if queue is None:
            return problem(request, 404, "No such queue", f"There is no queue {queue_id}.")
    if request.method == "POST":
        form = QueueForm(request.POST)
        if form.is_valid():
            try:
                saved = queue_save(actor=request.user, queue_id=queue_id, **form.service_fields())
            except CaseError as error:
                form.add_error(None, error.message)
            else:
                moved = saved.cases_rerouted
                messages.success(
                    request,
                    f"Saved {saved.name}. {moved} open unassigned case{pluralize(moved)} "
                    f"re-routed.",
                )
                return redirect(reverse("manage-queues"))
    else:
        form = QueueForm(initial=_initial(queue))
    return render(request, "cases/manage/queue_form.html", {"form": form, "queue": queue})


def _initial(queue: Queue | None) -> dict:
    if queue is None:
        return {"sla_hours": 24, "routing_order": 100}
    return {
        "name": queue.name, "description": queue.description, "sla_hours": queue.sla_hours,
        "routing_order": queue.routing_order, "is_default": queue.is_default,
        "min_similarity_score": queue.min_similarity_score, "outcomes": queue.outcomes,
        "min_amount": queue.min_amount, "countries": ", ".join(queue.countries),
        "round_robin": queue.round_robin, "members": list(queue.members.all()),
    }  # fmt: skip


@never_cache
@may_manage_queues
def reason_codes_page(request):
    form = ReasonCodeForm(request.POST or None, initial={"active": True})
    if request.method == "POST" and form.is_valid():
        try:
            reason = reason_code_save(actor=request.user, **form.cleaned_data)
        except CaseError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Saved reason code {reason.code}.")
            return redirect(reverse("manage-reason-codes"))
    return render(
        request,
        "cases/manage/reason_codes.html",
        {"form": form, "reasons": reason_codes_for_management()},
    )
