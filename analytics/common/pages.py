"""What every dashboard page shares: the range form, the page or one chart's CSV."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.text import slugify

from analytics.common.access import dashboard_links
from analytics.common.charts import Chart
from analytics.common.ranges import DayRange, RangeForm, quick_picks
from cases.http import problem


def range_from(request, form_class=RangeForm):
    """The form (bound to the query) and the range it gives (the default when refused)."""
    form = form_class(request.GET or None)
    day_range = form.day_range()
    if not form.is_bound:
        form = form_class(initial={"since": day_range.since, "until": day_range.until})
    return form, day_range


def csv_response(chart: Chart, filename: str) -> HttpResponse:
    """The chart's figures as a CSV download (the same text as its table)."""
    response = HttpResponse(chart.csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def query_and_quick_picks(request, day_range: DayRange) -> tuple:
    """The page's query without ?csv= (urlencoded), and the range picker's quick picks, each
    with the same query over its days."""
    query = request.GET.copy()
    query.pop("csv", None)
    picks = quick_picks(day_range)
    for pick in picks:
        pick_query = query.copy()
        pick_query["since"], pick_query["until"] = pick["since"], pick["until"]
        pick["query"] = pick_query.urlencode()
    return query, picks


def dashboard_response(
    request,
    *,
    template: str,
    title: str,
    form,
    day_range: DayRange,
    charts: list[Chart],
    context: dict | None = None,
) -> HttpResponse:
    """The page with its charts, or with ?csv=<chart id> that chart's figures as CSV."""
    wanted = request.GET.get("csv")
    if wanted:
        chart = next((chart for chart in charts if chart.chart_id == wanted), None)
        if chart is None:
            return problem(request, 404, "No such chart", f"this page has no chart {wanted[:40]!r}")
        return csv_response(
            chart, f"{slugify(title)}-{chart.chart_id}-{day_range.since}-{day_range.until}.csv"
        )
    query, picks = query_and_quick_picks(request, day_range)
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(
        request, template,
        {"title": title, "form": form, "day_range": day_range, "charts": charts,
         "chart_by_id": {chart.chart_id: chart for chart in charts},
         "specs": {chart.chart_id: chart.spec() for chart in charts},
         "query": query.urlencode(), "quick_picks": picks,
         "dashboard_links": dashboard_links(request), **(context or {})},
        status=status,
    )  # fmt: skip
