"""The IP page (where one source IP is and who used it) and the fraud rings page: thin views
over cases.ips.selectors."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cases.audit.trail import refusals_audited
from cases.errors import ActionNotPermitted
from cases.http import may_view_cases, problem
from cases.ips.ipaddr import canonical_ip, parse_ip
from cases.ips.selectors.curation import attach_signals, ip_signals
from cases.ips.selectors.ip import geo_source_info, ip_usage
from cases.ips.selectors.rings import rings_page
from cases.ips.services import rings_request_refresh
from cases.policies import require_permission


@require_GET
@login_required
def ip_detail(request, ip: str):
    try:
        with refusals_audited(
            actor=request.user, attempted="view an IP", object_type="ip", object_repr=ip[:255]
        ):
            require_permission(request.user, "view_case", attempted="view IPs")
    except ActionNotPermitted as error:
        return problem(request, 403, "Not allowed", error.message)
    address = parse_ip(ip)
    if address is None:
        return problem(
            request,
            404,
            "Not an IP address",
            "The address in the link is not an IPv4 or IPv6 address.",
        )
    canonical = canonical_ip(address)
    if canonical != ip:
        return redirect("ip-detail", ip=canonical)  # one page per address, however it is spelt
    usage = ip_usage(canonical, viewer=request.user)
    attach_signals(usage.transactions.items)
    return render(
        request,
        "cases/ip/detail.html",
        {
            "ip": canonical, "usage": usage, "place": usage.place, "sources": geo_source_info(),
            "network": ip_signals(canonical),
        },
    )  # fmt: skip


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
