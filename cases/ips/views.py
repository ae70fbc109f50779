"""The IP page (where one source IP is and who used it) and the fraud rings page: thin views
over cases.ips.selectors."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
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
from cases.ips.selectors.rings import RingFilters, rings_page
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
    result = rings_page(
        viewer=request.user, sort=request.GET.get("sort", "fraud"), page=page,
        filters=_ring_filters(request.GET),
    )  # fmt: skip
    return render(
        request,
        "cases/rings.html",
        {
            "result": result,
            "can_refresh": request.user.has_perm("cases.work_any_case"),
            "size_choices": sorted({10, 25, settings.FRAUDCASE_RING_MAX_SIZE, 100}),
            "filter_query": _ring_filter_query(result.filters),
        },
    )


def _number(text: str, *, low: int, high: int) -> int | None:
    return min(max(int(text), low), high) if text.isdecimal() and len(text) <= 9 else None


def _ring_filters(params) -> RingFilters:
    """?max_size=N or any, ?fraud=1 (confirmed fraud only), ?min_risk=N; what is not given or
    not a number keeps the default (the size cap, any fraud, any risk)."""
    default = RingFilters.default()
    size = params.get("max_size", "")
    max_size = None if size == "any" else _number(size, low=2, high=10**6) or default.max_size
    return RingFilters(
        max_size=max_size,
        min_fraud=1 if params.get("fraud") == "1" else 0,
        min_risk=_number(params.get("min_risk", ""), low=0, high=100) or 0,
    )


def _ring_filter_query(filters: RingFilters) -> str:
    """The filters as a query string, for the sort and page links."""
    parts = {"max_size": "any" if filters.max_size is None else filters.max_size}
    if filters.min_fraud:
        parts["fraud"] = 1
    if filters.min_risk:
        parts["min_risk"] = filters.min_risk
    return urlencode(parts)


@require_POST
@login_required
def rings_refresh(request):
    try:
        rings_request_refresh(actor=request.user)
    except ActionNotPermitted as error:
        return problem(request, 403, "Not allowed", error.message)
    messages.success(request, "The rings are being recomputed; reload this page in a minute.")
    return redirect(reverse("rings"))
