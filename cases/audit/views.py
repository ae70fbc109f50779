"""Audit pages for auditors: the latest events with filters, KPIs, and the CSV export."""

from __future__ import annotations

import io
import json
import tempfile
from datetime import timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from cases.audit.export import ATTEMPTED as EXPORT_ATTEMPTED
from cases.audit.export import audit_export_csv
from cases.audit.selectors import audit_events, case_kpis
from cases.audit.trail import refusals_audited
from cases.casefile.selectors import duration_text
from cases.dateranges import DayField, day_end, day_start, form_check_order
from cases.errors import ActionNotPermitted, CaseError
from cases.http import problem, requires_permission
from cases.models import AuditAction
from cases.policies import require_permission

LATEST_EVENTS = 100
# Exports up to this size stay in memory; bigger ones spool to a temporary file.
EXPORT_SPOOL_BYTES = 8 * 1024 * 1024
REQUIRED = {"required": "is required (YYYY-MM-DD)"}


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(required=False, choices=[("", "any")] + AuditAction.choices)
    object_type = forms.CharField(required=False, max_length=64, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    since = DayField(required=False, label="From")
    until = DayField(required=False, label="To (inclusive)")

    def clean(self):
        cleaned = super().clean()
        form_check_order(self, "since", "until")
        return cleaned


class AuditExportForm(forms.Form):
    # Days only here; the service refuses (and audits) a reversed range.
    start = DayField(label="start", error_messages=REQUIRED)
    end = DayField(label="end", error_messages=REQUIRED)


@require_GET
@requires_permission("view_audit", attempted="read the audit trail")
def audit_trail(request):
    form = AuditFilterForm(request.GET)
    events, kpis, since_day, until_day = [], None, None, None
    if form.is_valid():
        filters = form.cleaned_data
        since_day, until_day = filters["since"], filters["until"]
        since = day_start(since_day) if since_day else None
        until = day_end(until_day) if until_day else None
        events = list(
            audit_events(
                actor=filters["actor"], action=filters["action"],
                object_type=filters["object_type"], object_id=filters["object_id"],
                since=since, until=until, limit=LATEST_EVENTS,
            )
        )  # fmt: skip
        for event in events:
            event.before_json = _json_text(event.before)
            event.after_json = _json_text(event.after)
        kpis = _kpi_rows(case_kpis(since=since, until=until))
    today = timezone.localdate()
    return render(
        request,
        "cases/audit/trail.html",
        {
            "form": form,
            "events": events,
            "latest_limit": LATEST_EVENTS,
            "kpis": kpis,
            "can_export": request.user.has_perm("cases.export_audit"),
            # The export form starts from the filtered days, else the last 30 days.
            "export_start": since_day or today - timedelta(days=30),
            "export_end": until_day or today,
        },
        status=200 if form.is_valid() else 400,
    )


@login_required
@require_GET
def audit_export(request):
    """GET ?start=YYYY-MM-DD&end=YYYY-MM-DD, both days inclusive: the events as a CSV download.

    Permission first: someone who may not export is told so, whatever the range says.
    """
    try:
        with refusals_audited(
            actor=request.user, attempted=EXPORT_ATTEMPTED, object_type="cases.auditevent"
        ):
            require_permission(request.user, "export_audit", attempted=EXPORT_ATTEMPTED)
    except ActionNotPermitted as error:
        return _problem(request, error.http_status, "Not allowed", error.message)
    form = AuditExportForm(request.GET)
    if not form.is_valid():
        message = "; ".join(_error_text(field, errors) for field, errors in form.errors.items())
        return _problem(request, 400, "Bad export range", message)
    start_day, end_day = form.cleaned_data["start"], form.cleaned_data["end"]
    # The export is written in full before the response starts, so a refusal or a database
    # error is a proper error page, never a truncated file that looks complete.
    # FileResponse closes the spool once the response is sent.
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES)  # noqa: SIM115
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    try:
        audit_export_csv(
            actor=request.user, start=day_start(start_day), end=day_end(end_day), output=text
        )
    except CaseError as error:
        text.close()
        title = "Not allowed" if isinstance(error, ActionNotPermitted) else "Bad export range"
        return _problem(request, error.http_status, title, error.message)
    except Exception:
        text.close()
        raise
    text.flush()
    text.detach()
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=f"fraudcase-audit-{start_day.isoformat()}-to-{end_day.isoformat()}.csv",
        content_type="text/csv; charset=utf-8",
    )


def _problem(request, status: int, title: str, message: str):
    # Back to the trail only for someone who may read it; anyone else goes back to the queue.
    if request.user.has_perm("cases.view_audit"):
        return problem(
            request, status, title, message,
            back_url=reverse("audit-trail"), back_label="Back to the audit trail",
        )  # fmt: skip
    return problem(request, status, title, message)


def _error_text(field: str, errors: list[str]) -> str:
    # A required-field message needs its field's name; the day parser's already has it.
    return " ".join(error if error.startswith(field) else f"{field} {error}" for error in errors)


def _json_text(value) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _kpi_rows(kpis: dict) -> dict:
    """The KPI figures as display text."""
    rows = []
    for label, key, formatter in (
        ("Time to first touch", "time_to_first_touch", _duration_text),
        ("Time to close", "time_to_close", _duration_text),
        ("Reassignments per case", "reassignments", _number_text),
    ):
        part = kpis[key]
        rows.append(
            {
                "label": label,
                "count": part["count"],
                "median": formatter(part["median"]),
                "p90": formatter(part["p90"]),
                "mean": formatter(part["mean"]),
            }
        )
    return {"cases_opened": kpis["cases_opened"], "rows": rows}


def _duration_text(value: timedelta | None) -> str:
    """A median: seconds under a minute, else to the nearest minute in the queue's wording."""
    if value is None:
        return "—"
    if value < timedelta(minutes=1):
        return f"{round(value.total_seconds())} s"
    return duration_text(timedelta(minutes=round(value.total_seconds() / 60)))


def _number_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
