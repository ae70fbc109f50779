"""Audit pages for auditors: the latest events with filters, KPIs, and the CSV export."""

from __future__ import annotations

import io
import json
import tempfile
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.validators import MaxValueValidator
from django.http import FileResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cases.errors import ActionNotPermitted, CaseError
from cases.models import AuditAction
from cases.selectors_audit import audit_events, case_kpis
from cases.selectors_case import duration_text
from cases.services.access import refusals_audited, require_permission
from cases.services.audit_export import audit_export_csv

LATEST_EVENTS = 100
# Exports up to this size stay in memory; bigger ones spool to a temporary file.
EXPORT_SPOOL_BYTES = 8 * 1024 * 1024
DATE_FORMATS = ["%Y-%m-%d"]
# A range ends at the start of the day after its last day, which must exist.
LAST_DAY = date.max - timedelta(days=1)
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATE_ERRORS = {"required": "is required (YYYY-MM-DD)", "invalid": "must be a date as YYYY-MM-DD"}


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(required=False, choices=[("", "any")] + AuditAction.choices)
    object_type = forms.CharField(required=False, max_length=64, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    since = forms.DateField(
        required=False, input_formats=DATE_FORMATS, label="From", widget=DATE_INPUT
    )
    until = forms.DateField(
        required=False, input_formats=DATE_FORMATS, label="To (inclusive)", widget=DATE_INPUT,
        validators=[MaxValueValidator(LAST_DAY)],
    )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            raise forms.ValidationError("'To' is before 'From'.")
        return cleaned


class AuditExportForm(forms.Form):
    # Only the format is checked here; the service refuses (and audits) a reversed range.
    start = forms.DateField(input_formats=DATE_FORMATS, error_messages=DATE_ERRORS)
    end = forms.DateField(
        input_formats=DATE_FORMATS, error_messages=DATE_ERRORS,
        validators=[MaxValueValidator(LAST_DAY)],
    )  # fmt: skip


@login_required
@require_GET
def audit_trail(request):
    try:
        with refusals_audited(actor=request.user, attempted="read the audit trail"):
            require_permission(request.user, "view_audit", attempted="read the audit trail")
    except ActionNotPermitted as error:
        return _problem(request, error.http_status, "Not allowed", error.message)

    form = AuditFilterForm(request.GET)
    events, kpis, since_day, until_day = [], None, None, None
    if form.is_valid():
        filters = form.cleaned_data
        since_day, until_day = filters["since"], filters["until"]
        since, until = _day_start(since_day), _day_end(until_day)
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
    )


@login_required
@require_GET
def audit_export(request):
    """GET ?start=YYYY-MM-DD&end=YYYY-MM-DD, both days inclusive: the events as a CSV download."""
    form = AuditExportForm(request.GET)
    if not form.is_valid():
        message = "; ".join(f"{field} {' '.join(errors)}" for field, errors in form.errors.items())
        return _problem(request, 400, "Bad export range", message)
    start_day, end_day = form.cleaned_data["start"], form.cleaned_data["end"]
    # The export is written in full before the response starts, so a refusal or a database
    # error is a proper error page, never a truncated file that looks complete.
    # FileResponse closes the spool once the response is sent.
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES)  # noqa: SIM115
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    try:
        audit_export_csv(
            actor=request.user, start=_day_start(start_day), end=_day_end(end_day), output=text
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
    return render(
        request, "cases/audit/problem.html", {"title": title, "message": message}, status=status
    )


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else timezone.make_aware(datetime.combine(day, time.min))


def _day_end(day: date | None) -> datetime | None:
    """The end of an inclusive day range: the start of the next day."""
    return None if day is None else _day_start(day + timedelta(days=1))


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
