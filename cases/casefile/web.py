"""What the case page's views share: the case named in the URL, as the read policy allows."""

from __future__ import annotations

import contextlib
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.utils import timezone

from cases.audit.trail import refusals_audited
from cases.casefile.selectors import case_detail
from cases.errors import ActionNotPermitted, CaseNotVisible
from cases.http import problem, url_for_each
from cases.models import Case
from cases.policies import require_permission


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def with_case(view):
    """Resolve the case named in the URL for a signed-in user who may read it (cases.policies).

    A user whose role reads no case gets a 403 page (audited) before any lookup; a case that is
    unknown, or that this user may not read, is the same 404 page, so references do not leak.
    """

    @wraps(view)
    def wrapper(request, reference: str, *args, **kwargs):
        try:
            with refusals_audited(
                actor=request.user, attempted="view the case", object_type="cases.case",
                object_repr=reference[:255],
            ):  # fmt: skip
                require_permission(request.user, "view_case", attempted="view cases")
        except ActionNotPermitted as error:
            return problem(request, 403, "Not allowed", error.message)
        case = case_detail(reference, viewer=request.user)
        if case is None:
            hidden = case_detail(reference)
            if hidden is not None:  # there, but not for them: audit the denial
                with contextlib.suppress(CaseNotVisible), refusals_audited(
                    actor=request.user, attempted=f"{request.method} {request.path}"[:200],
                    object_type="cases.case", object_id=hidden.pk, object_repr=hidden.reference,
                ):  # fmt: skip
                    raise CaseNotVisible(f"no case {reference}")
            return problem(
                request, 404, "No such case", f"There is no case {reference}. Check the reference."
            )
        return view(request, case, *args, **kwargs)

    return login_required(wrapper)


def transaction_rows(transactions) -> None:
    """What each transaction row shows made once here, not by template tags per row: its time
    as text and the links of its source IP and device (with a url tag and a date filter per
    row these were most of a big case's rendering time)."""
    ip_url, device_url = url_for_each("ip-detail"), url_for_each("device-detail")
    for tx in transactions:
        when = timezone.localtime(tx.occurred_at)
        tx.occurred_text = f"{when.year:04d}-{when:%m-%d %H:%M:%S}"
        tx.ip_url = ip_url(tx.source_ip) if tx.source_ip else ""
        tx.device_url = device_url(tx.device_id) if tx.device_id else ""


def page_urls(case: Case) -> dict:
    # Reversed once per page rather than once per transaction row.
    return {
        "verdict_url": reverse("case-transaction-verdict", args=[case.reference]),
        "why_url": reverse("case-why-flagged", args=[case.reference]),
    }
