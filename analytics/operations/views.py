"""The operations dashboard: the team's, or for an analyst their own figures."""

from __future__ import annotations

from django.conf import settings

from analytics.common.access import own_or_team_dashboard
from analytics.common.charts import Chart, grouped_traces, series_traces
from analytics.common.pages import dashboard_response, range_from
from analytics.operations.cache import operations_figures
from cases.labels.selectors.backlog import label_export_backlog
from cases.policies import analytics_analyst_filter


def _team_charts(tables: dict) -> list[Chart]:
    flagged, opened, closed = tables["flagged"], tables["opened"], tables["closed"]
    ages, breaches, to_breach = tables["ages"], tables["breaches"], tables["to_breach"]
    exports, books = tables["exports"], tables["books"]
    return [
        Chart("ops-flagged", "Flagged transactions per day by the detector's outcome",
              ["day", "approve", "investigate", "block", "no outcome"], flagged,
              series_traces(flagged, x=0, series={"approve": 1, "investigate": 2, "block": 3, "no outcome": 4}),
              y_title="transactions", stacked=True),
        Chart("ops-opened", "Cases opened per day by queue",
              ["day", "queue", "opened", "closed since"], opened,
              grouped_traces(opened, x=0, group=1, y=2), y_title="cases", stacked=True),
        Chart("ops-closed", "Cases closed per day by resolution and queue",
              ["day", "queue", "resolution", "cases closed"], closed,
              grouped_traces(closed, x=0, group=2, y=3), y_title="cases", stacked=True),
        Chart("ops-age", "Open cases by age and queue", ["queue", "age", "open cases"], ages,
              grouped_traces(ages, x=1, group=0, y=2), y_title="cases", stacked=True),
        Chart("ops-sla", "SLA: cases falling due per day, and breaches",
              ["day", "queue", "due", "breached"], breaches,
              grouped_traces(breaches, x=0, group=1, y=3), y_title="breached", stacked=True,
              note="Breached: closed after the SLA's due time, or still open past it."),
        Chart("ops-to-breach", "Open cases by time left to their SLA",
              ["queue", "time left", "open cases"], to_breach,
              grouped_traces(to_breach, x=1, group=0, y=2), y_title="cases", stacked=True),
        Chart("ops-label-export", "Labels queued for retraining and exported per day",
              ["day", "queued", "exported"], exports,
              series_traces(exports, x=0, series={"queued": 1, "exported": 2}), y_title="label versions"),
        Chart("ops-ingest", "Ingest runs' books per day (by the run's creation)",
              ["day", "runs", "rows read", "loaded", "duplicates", "quarantined"], books,
              series_traces(books, x=0, series={"loaded": 3, "duplicates": 4, "quarantined": 5}),
              y_title="rows", stacked=True),
    ]  # fmt: skip


def _analyst_charts(tables: dict) -> list[Chart]:
    closes, times, moves = tables["closes"], tables["times"], tables["moves"]
    return [
        Chart("ops-throughput", "Cases closed per day by analyst", ["day", "analyst", "cases closed"],
              closes, grouped_traces(closes, x=0, group=1, y=2), y_title="cases", stacked=True),
        Chart("ops-times", "Median hours to first touch and to close (cases closed in the range)",
              ["analyst", "cases closed", "median hours to first touch", "median hours to close"], times,
              series_traces(times, x=0, series={"to first touch": 2, "to close": 3}), y_title="hours",
              note="From the audit trail: the first time a person opened or worked the case, and its close."),
        Chart("ops-reassignments", "Reassignments per day (a case moved from one assignee to another)",
              ["day", "reassignments"], moves, series_traces(moves, x=0, series={"reassignments": 1}),
              y_title="cases"),
    ]  # fmt: skip


@own_or_team_dashboard
def operations_page(request):
    """Flagged volume, cases, SLA, throughput, export backlog and ingest books. The charts'
    figures come from analytics.operations.cache (kept a short while, the page says as of
    when); the label-export backlog is live."""
    form, day_range = range_from(request)
    analyst_id = analytics_analyst_filter(request.user)
    analyst_name = None if analyst_id is None else request.user.get_username()
    figures = operations_figures(day_range, analyst_id=analyst_id, analyst_name=analyst_name)
    context = {"figures": figures, "cache_seconds": settings.FRAUDCASE_OPERATIONS_CACHE_SECONDS}
    if analyst_id is None:
        charts = _team_charts(figures.tables) + _analyst_charts(figures.tables)
        context["backlog"] = label_export_backlog()
    else:
        charts = _analyst_charts(figures.tables)
        context["scope_note"] = "Your own figures: the team's are for leads and auditors."
    return dashboard_response(
        request,
        template="analytics/dashboards/operations.html",
        title="Operations",
        form=form,
        day_range=day_range,
        charts=charts,
        context=context,
    )
