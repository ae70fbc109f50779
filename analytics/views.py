"""Read-only analytics pages over the cases data (thin: validate, call a selector, render)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from analytics.common.charts import Chart
from analytics.common.pages import csv_response, query_and_quick_picks
from analytics.common.ranges import DayRange
from analytics.selectors import IpMap, IpMapFilters, ip_map, ip_map_seen_by, overview
from cases.audit.trail import refusals_audited
from cases.dateranges import DayField, form_check_order
from cases.errors import ActionNotPermitted
from cases.http import may_view_cases
from cases.http import problem as _problem
from cases.models import Outcome
from cases.policies import require_permission, sees_team_analytics

LONGEST_RANGE_DAYS = 366  # bounded work: one map covers at most this many days


class IpMapForm(forms.Form):
    since = DayField(required=False, label="From")
    until = DayField(required=False, label="To")
    score_min = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Score at least",
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "0-1"}),
    )  # fmt: skip
    country = forms.RegexField(
        regex=r"^[A-Za-z]{2}$", required=False, label="Country",
        error_messages={"invalid": "Two letters (ISO 3166), for example DE."},
        widget=forms.TextInput(attrs={"size": "3", "maxlength": "2", "placeholder": "DE"}),
    )  # fmt: skip
    outcome = forms.ChoiceField(
        required=False, label="Detector outcome", choices=[("", "Any"), *Outcome.choices]
    )

    def clean(self):
        cleaned = super().clean()
        if "since" in self.errors or "until" in self.errors:
            return cleaned
        default = IpMapFilters.default()
        until = cleaned.get("until") or default.until
        since = cleaned.get("since") or until - (default.until - default.since)
        cleaned["since"], cleaned["until"] = since, until
        form_check_order(self, "since", "until")
        days = (until - since).days + 1
        if "until" not in self.errors and days > LONGEST_RANGE_DAYS:
            self.add_error(
                "since",
                f"the map covers at most {LONGEST_RANGE_DAYS} days; {since.isoformat()} to "
                f"{until.isoformat()} is {days}",
            )
        return cleaned

    def filters(self) -> IpMapFilters:
        data = self.cleaned_data
        return IpMapFilters(
            since=data["since"], until=data["until"], score_min=data.get("score_min"),
            country=(data.get("country") or "").upper(), outcome=data.get("outcome") or "",
        )  # fmt: skip


def ip_map_table(result: IpMap) -> Chart:
    """The map's points as a table (shown for screen readers, downloaded as CSV: the same
    text), counts only: the hover's sample accounts and cases stay on the map."""
    rows = [
        [p.ip, p.place, f"AS{p.asn}" if p.asn else "", p.transactions, p.labelled, p.fraud,
         p.fraud_rate, p.accounts, p.cases, p.open_cases, p.latitude, p.longitude]
        for p in result.points
    ]  # fmt: skip
    return Chart(
        "ip-map-points", "The IPs on the map, most transactions first",
        ["IP", "place", "ASN", "transactions", "labelled", "fraud", "fraud rate", "accounts",
         "cases", "open cases", "latitude", "longitude"],
        rows,
    )  # fmt: skip


@require_GET
@login_required
def ip_map_page(request):
    """A world map of the source IPs seen in a time range (see analytics.selectors.ip_map)."""
    try:
        with refusals_audited(actor=request.user, attempted="view the IP map"):
            require_permission(request.user, "view_transaction", attempted="view the IP map")
    except ActionNotPermitted as error:
        return _problem(request, 403, "Not allowed", error.message)
    form = IpMapForm(request.GET or None)
    filters = form.filters() if form.is_valid() else IpMapFilters.default()
    if not form.is_bound:
        form = IpMapForm(initial={"since": filters.since, "until": filters.until})
    result = ip_map_seen_by(ip_map(filters), request.user)
    table = ip_map_table(result)
    if request.GET.get("csv") == table.chart_id:
        return csv_response(table, f"ip-map-{filters.since}-{filters.until}.csv")
    # The quick picks keep the other filters, over the last N days.
    query, picks = query_and_quick_picks(request, DayRange(filters.since, filters.until))
    return render(
        request,
        "analytics/ip_map.html",
        {
            "form": form,
            "result": result,
            "chart": result.chart_data(),
            "table": table,
            "query": query.urlencode(),
            "quick_picks": picks,
            "cache_minutes": settings.FRAUDCASE_IP_MAP_CACHE_SECONDS // 60,
        },  # fmt: skip
        status=200 if not form.is_bound or form.is_valid() else 400,
    )


@may_view_cases
def overview_page(request):
    """Counts, the highest-priority open cases the user may read, recent ingest runs."""
    return render(request, "cases/home.html", overview(viewer=request.user))


@may_view_cases
def dashboards_page(request):
    """The top menu's Analytics: the first dashboard the user may see (quality for leads and
    auditors, an analyst's own operations figures)."""
    first = "analytics-quality" if sees_team_analytics(request.user) else "analytics-operations"
    return redirect(first)
