"""Leads' page for labels on their way to retraining: held labels, backlog, quarantine."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from cases.dateranges import MomentField, form_check_order
from cases.errors import ActionNotPermitted, CaseError, InvalidInput
from cases.http import problem, requires_permission
from cases.labels.selectors.backlog import held_labels, label_export_backlog, recent_label_batches
from cases.labels.services.versions import (
    label_batch_quarantine,
    label_review,
    labels_quarantine_analyst,
    labels_release_quarantine,
)


class QuarantineForm(forms.Form):
    """One analyst's labels in a time range, or one export batch."""

    analyst = forms.CharField(required=False, max_length=150, label="Analyst (username)")
    start = MomentField(required=False, label="From")
    end = MomentField(required=False, label="Until")
    batch_id = forms.CharField(required=False, max_length=64, label="Or an export batch id")
    reason = forms.CharField(max_length=500)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("batch_id"):
            return cleaned
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if not (cleaned.get("analyst") and cleaned.get("start") and cleaned.get("end")):
            raise forms.ValidationError("Give an analyst with a time range, or a batch id.")
        form_check_order(self, "start", "end")
        return cleaned


# Leads and admins manage held and quarantined labels; anyone else gets a 403 (audited) first.
may_manage_labels = requires_permission("release_labels", attempted="manage held labels")


def _problem(request, message: str):
    # Only refusals come here, so the way back is the queue, not the labels page.
    return problem(request, 403, "Not allowed", message)


@require_GET
@may_manage_labels
def held_labels_page(request):
    return render(
        request,
        "cases/labels/held.html",
        {
            "held": list(held_labels()),
            "backlog": label_export_backlog(),
            "batches": list(recent_label_batches()),
            "form": QuarantineForm(),
        },
    )


@require_POST
@may_manage_labels
def held_label_review(request, version_id: int):
    decision = request.POST.get("decision", "")
    try:
        if decision not in ("approve", "reject"):
            raise InvalidInput("choose approve or reject")
        version = label_review(
            actor=request.user, version_id=version_id, approve=decision == "approve",
            note=request.POST.get("note", ""),
        )  # fmt: skip
        outcome = "approved: it goes to retraining" if decision == "approve" else "rejected"
        messages.success(
            request, f"{version.transaction.transaction_id}: label {version.label} {outcome}."
        )
    except ActionNotPermitted as error:
        return _problem(request, error.message)
    except CaseError as error:
        messages.error(request, error.message)
    return redirect("held-labels")


@require_POST
@may_manage_labels
def labels_quarantine(request):
    return _quarantine_or_release(request, release=False)


@require_POST
@may_manage_labels
def labels_release(request):
    return _quarantine_or_release(request, release=True)


def _quarantine_or_release(request, *, release: bool):
    form = QuarantineForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(" ".join(errors) for errors in form.errors.values()))
        return redirect("held-labels")
    data = form.cleaned_data
    try:
        if data["batch_id"]:
            if release:
                count = labels_release_quarantine(
                    actor=request.user, batch_id=data["batch_id"], reason=data["reason"]
                )
            else:
                count = label_batch_quarantine(
                    actor=request.user, batch_id=data["batch_id"], reason=data["reason"]
                )
        else:
            analyst = get_user_model().objects.filter(username=data["analyst"]).first()
            if analyst is None:
                raise InvalidInput(f"no user {data['analyst']!r}")
            scope = {"analyst_id": analyst.pk, "start": data["start"], "end": data["end"],
                     "reason": data["reason"]}  # fmt: skip
            if release:
                count = labels_release_quarantine(actor=request.user, **scope)
            else:
                count = labels_quarantine_analyst(actor=request.user, **scope)
        verb = "released" if release else "quarantined"
        messages.success(request, f"{count} label version(s) {verb}.")
    except ActionNotPermitted as error:
        return _problem(request, error.message)
    except CaseError as error:
        messages.error(request, error.message)
    return redirect("held-labels")
