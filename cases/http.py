"""What every page shares: the problem page, and the permission preamble (audited refusals).

Access itself is decided in cases.policies and the services; these only turn a refusal into a
page, before the view reads or validates anything (a refused user gets 403, not a 400 about
their input).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from cases.audit.trail import refusals_audited
from cases.errors import ActionNotPermitted
from cases.policies import require_permission


def problem(
    request, status: int, title: str, message: str, *, back_url: str = "", back_label: str = ""
) -> HttpResponse:
    """The problem page; its way back is back_url when given, else the queue."""
    return render(
        request,
        "cases/case/problem.html",
        {"title": title, "message": message, "back_url": back_url, "back_label": back_label},
        status=status,
    )


# Characters reverse() leaves as they are (quote()'s always-safe ones plus "~:@") and that
# every converter of one path segment or more accepts.
_URL_PLAIN = re.compile(r"[A-Za-z0-9_.~:@-]+")
_URL_PLACEHOLDER = "fcurlplaceholder"


def url_for_each(name: str) -> Callable[[object], str]:
    """reverse(name, args=[value]) for the many values of a page's rows at the cost of one
    reverse(): a plain value is put in place of the pattern's one argument; any other (to be
    quoted, or one a converter may refuse) goes through reverse() itself."""
    before, after = reverse(name, args=[_URL_PLACEHOLDER]).rsplit(_URL_PLACEHOLDER, 1)

    def url(value) -> str:
        text = str(value)
        if _URL_PLAIN.fullmatch(text):
            return f"{before}{text}{after}"
        return reverse(name, args=[value])

    return url


def requires_permission(permission: str, *, attempted: str):
    """Signed in and holding cases.<permission>; else a 403 page, the refusal audited."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                with refusals_audited(
                    actor=request.user, attempted=attempted, object_repr=request.path[:255]
                ):
                    require_permission(request.user, permission, attempted=attempted)
            except ActionNotPermitted as error:
                return problem(request, 403, "Not allowed", error.message)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


# Pages about cases: any role that reads cases (what each sees is cases.policies' business).
may_view_cases = requires_permission("view_case", attempted="view cases")
# Claiming and bulk-working cases of the queue.
may_work_cases = requires_permission("work_case", attempted="work cases")
