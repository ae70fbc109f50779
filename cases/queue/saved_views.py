"""Saved views of the triage queue: save the current list's query under a name, delete one.
Thin views over cases.queue.services; the list itself is cases.queue.views."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from cases.errors import CaseError
from cases.http import may_view_cases, problem
from cases.queue.services import MAX_VIEW_NAME, saved_query, saved_view_create, saved_view_delete


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=MAX_VIEW_NAME)
    query = forms.CharField(required=False, max_length=4000)


@require_POST
@may_view_cases
def saved_view_save(request):
    """Save the list's current query (tab, filters, sort) under a name; back to that list."""
    form = SavedViewForm(request.POST)
    query = saved_query(request.POST.get("query", "")[:4000])
    if not form.is_valid():
        messages.error(request, "A saved view needs a name (at most 80 characters).")
    else:
        try:
            view = saved_view_create(
                actor=request.user, name=form.cleaned_data["name"], query=query
            )
        except CaseError as error:
            messages.error(request, f"The view was not saved: {error.message}")
        else:
            messages.success(request, f"Saved the view {view.name!r}.")
    return redirect(reverse("home") + (f"?{query}" if query else ""))


@require_POST
@may_view_cases
def saved_view_remove(request, view_id: int):
    """Delete one of my saved views."""
    try:
        saved_view_delete(actor=request.user, view_id=view_id)
    except CaseError as error:  # another user's view does not exist for this one
        return problem(request, error.http_status, "No such saved view", error.message)
    messages.success(request, "Saved view deleted.")
    return redirect("home")
