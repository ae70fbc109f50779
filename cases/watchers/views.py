"""Follow or unfollow a case; the notifications page, the top bar's bell and marking read.
Thin views over cases.watchers.services and selectors."""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cases.casefile.web import with_case
from cases.errors import CaseError
from cases.http import may_view_cases, problem
from cases.models import Case
from cases.watchers import services
from cases.watchers.selectors import notifications_for, unread_notification_count


def _back_to_case(case: Case):
    return redirect(reverse("case-detail", args=[case.reference]) + "#case-followers")


@require_POST
@with_case
def case_follow(request, case: Case):
    try:
        services.case_follow(actor=request.user, case_id=case.pk)
    except CaseError as error:
        return problem(request, error.http_status, "Not followed", error.message)
    messages.success(request, f"You follow {case.reference}: its notes and reminders reach you.")
    return _back_to_case(case)


@require_POST
@with_case
def case_unfollow(request, case: Case):
    try:
        services.case_unfollow(actor=request.user, case_id=case.pk)
    except CaseError as error:
        return problem(request, error.http_status, "Not unfollowed", error.message)
    messages.success(request, f"You no longer follow {case.reference}.")
    return _back_to_case(case)


@require_GET
@may_view_cases
def notifications_page(request):
    return render(
        request,
        "cases/notifications.html",
        {"notifications": notifications_for(request.user)},
    )


@require_GET
@may_view_cases
def notifications_badge(request):
    """The bell's unread count as JSON (static/js/bell.js fetches it into the top bar).

    Not an htmx fragment: on the second-factor page an htmx request would be told to load
    that page again (HtmxFullPageSignInMiddleware), and the page's bell would ask again."""
    return JsonResponse({"unread": unread_notification_count(request.user)})


@require_POST
@may_view_cases
def notifications_read(request):
    """Mark one (id=…) or every unread notification of mine read; back to the list."""
    raw = request.POST.get("id", "")
    ids = [int(raw)] if raw.isdecimal() and len(raw) <= 18 else None
    changed = services.notifications_mark_read(actor=request.user, notification_ids=ids)
    if ids is None:
        messages.success(
            request, f"{changed} notification{'s' if changed != 1 else ''} marked read."
        )
    return redirect("notifications")


@require_POST
@may_view_cases
def notification_open(request, notification_id: int):
    """Mark the notification read and go to its case (only my own notifications)."""
    notification = next(
        (item for item in notifications_for(request.user) if item.pk == notification_id), None
    )
    if notification is None:
        return problem(request, 404, "No such notification", "It is not one of yours.")
    services.notifications_mark_read(actor=request.user, notification_ids=[notification.pk])
    return redirect(reverse("case-detail", args=[notification.case.reference]))
