"""The label health dashboard: the team's, or an analyst's own labels."""

from __future__ import annotations

from analytics.common.access import own_or_team_dashboard
from analytics.common.charts import Chart, grouped_traces, series_traces
from analytics.common.pages import dashboard_response, range_from
from analytics.labels_health import selectors as health
from cases.policies import analytics_analyst_filter


@own_or_team_dashboard
def labels_page(request):
    """Labels per analyst and day, agreement, guards, flips and retractions."""
    form, day_range = range_from(request)
    analyst_id = analytics_analyst_filter(request.user)
    per_analyst = health.labels_per_analyst(day_range, analyst_id=analyst_id)
    agreement = health.agreement_on_shared_accounts(day_range, analyst_id=analyst_id)
    guards = health.guards_per_day(day_range, analyst_id=analyst_id)
    flips = health.flips_and_retractions_per_day(day_range, analyst_id=analyst_id)
    charts = [
        Chart("labels-per-analyst", "Labels per day by analyst", ["day", "analyst", "labels", "of them fraud"],
              per_analyst, grouped_traces(per_analyst, x=0, group=1, y=2), y_title="labels", stacked=True),
        Chart("labels-agreement", "Agreement between analysts on shared accounts",
              ["analyst", "shared accounts", "all labels agree", "agreement"], agreement,
              series_traces(agreement, x=0, series={"agreement": 3}), percent=True,
              note="Accounts whose transactions carry current labels by two analysts or more."),
        Chart("labels-guards", "Labels held by the guards per day", ["day", "hold reason", "labels held"],
              guards, grouped_traces(guards, x=0, group=1, y=2), y_title="labels", stacked=True),
        Chart("labels-flips", "Flips and retractions per day", ["day", "flips", "retractions"], flips,
              series_traces(flips, x=0, series={"flips": 1, "retractions": 2}), y_title="label versions"),
    ]  # fmt: skip
    context = {} if analyst_id is None else {"scope_note": "Your own labels only."}
    return dashboard_response(
        request,
        template="analytics/dashboards/charts.html",
        title="Label health",
        form=form,
        day_range=day_range,
        charts=charts,
        context=context,
    )
