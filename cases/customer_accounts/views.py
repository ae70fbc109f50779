"""The account page: a thin view over cases.customer_accounts.selectors."""

from __future__ import annotations

import contextlib

from django.shortcuts import render
from django.views.decorators.http import require_GET

from cases.audit.trail import refusals_audited
from cases.customer_accounts.selectors import (
    account_exists,
    account_overview,
    device_exists,
    device_usage,
)
from cases.errors import CaseNotVisible
from cases.http import may_view_cases, problem


@require_GET
@may_view_cases
def account_detail(request, account_id: str):
    """?page=N pages the transactions. An account none of whose cases the viewer may read is
    the same 404 as an unknown one (the attempt is audited as a denial)."""
    page = request.GET.get("page", "1")
    overview = account_overview(
        account_id, viewer=request.user, page=int(page) if page.isdecimal() else 1
    )
    if overview is None:
        if account_exists(account_id):
            _audit_hidden(request, "account", account_id)
        return problem(
            request, 404, "No such account",
            "No case of yours holds this account. Check the id, or ask a lead.",
        )  # fmt: skip
    return render(request, "cases/account/detail.html", {"account": overview})


@require_GET
@may_view_cases
def device_detail(request, device_id: str):
    """Who used a device, as far as the viewer's cases tell; else the same 404 as unknown."""
    usage = device_usage(device_id, viewer=request.user)
    if usage is None:
        if device_exists(device_id):
            _audit_hidden(request, "device", device_id)
        return problem(
            request, 404, "No such device",
            "No case of yours holds a transaction from this device.",
        )  # fmt: skip
    return render(request, "cases/account/device.html", {"device": usage})


def _audit_hidden(request, object_type: str, identifier: str) -> None:
    """There, but not for this viewer: the attempt is a permission denial in the trail."""
    with contextlib.suppress(CaseNotVisible), refusals_audited(
        actor=request.user, attempted=f"{request.method} {request.path}"[:200],
        object_type=object_type, object_repr=identifier[:255],
    ):  # fmt: skip
        raise CaseNotVisible(f"no {object_type} {identifier}")
