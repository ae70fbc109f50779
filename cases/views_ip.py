"""The IP page: where one source IP is and who used it (a thin view over cases.selectors_ip)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from cases.errors import ActionNotPermitted
from cases.http import problem
from cases.selectors_ip import geo_source_info, ip_usage
from cases.services.access import refusals_audited, require_permission
from cases.services.ip_enrichment import canonical_ip, parse_ip


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
    return render(
        request,
        "cases/ip/detail.html",
        {"ip": canonical, "usage": usage, "place": usage.place, "sources": geo_source_info()},
    )
