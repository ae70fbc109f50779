"""Link analysis on the case page (a panel loaded by htmx) and the fraud rings page."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cases.errors import ActionNotPermitted
from cases.http import may_view_cases, problem
from cases.selectors_links import case_link_graph
from cases.selectors_rings import account_ring, ring_rank, rings_page
from cases.services.rings import rings_request_refresh
from cases.views_case import with_case


@require_GET
@with_case
def case_links(request, case):
    """The case page's link analysis panel (htmx loads it when it scrolls into view)."""
    graph = case_link_graph(case, viewer=request.user)
    ring = account_ring(case.account_id)
    return render(
        request,
        "cases/case/_links_panel.html",
        {
            "case": case,
            "graph": graph,
            "chart_json": json.dumps(graph.chart_data()),
            "ring": ring,
            "ring_rank": ring_rank(ring) if ring else None,
        },
    )


@require_GET
@may_view_cases
def rings(request):
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    result = rings_page(viewer=request.user, sort=request.GET.get("sort", "fraud"), page=page)
    return render(
        request,
        "cases/rings.html",
        {"result": result, "can_refresh": request.user.has_perm("cases.work_any_case")},
    )


@require_POST
@login_required
def rings_refresh(request):
    try:
        rings_request_refresh(actor=request.user)
    except ActionNotPermitted as error:
        return problem(request, 403, "Not allowed", error.message)
    messages.success(request, "The rings are being recomputed; reload this page in a minute.")
    return redirect(reverse("rings"))
