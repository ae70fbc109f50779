"""The money dashboard."""

from __future__ import annotations

from decimal import Decimal

from analytics.common.access import team_dashboard
from analytics.common.charts import Chart, series_traces
from analytics.common.pages import dashboard_response, range_from
from analytics.money.selectors import money_per_day


@team_dashboard
def money_page(request):
    """Amount at risk, confirmed as fraud and saved by blocks, per day and running total."""
    form, day_range = range_from(request)
    daily = money_per_day(day_range)
    running, totals = [], [Decimal(0)] * 3
    for day, *amounts in daily:
        totals = [total + (amount or 0) for total, amount in zip(totals, amounts, strict=True)]
        running.append([day, *totals])
    series = {"at risk": 1, "confirmed fraud": 2, "saved by blocks": 3}
    columns = ["day", "at risk", "confirmed fraud", "saved by blocks"]
    charts = [
        Chart("money-daily", "Amounts per day (by the transactions' day)", columns, daily,
              series_traces(daily, x=0, series=series), y_title="amount"),
        Chart("money-running", "Running totals over the range", columns, running,
              series_traces(running, x=0, series=series, kind="lines+markers"), y_title="amount"),
    ]  # fmt: skip
    return dashboard_response(
        request,
        template="analytics/dashboards/money.html",
        title="Money",
        form=form,
        day_range=day_range,
        charts=charts,
        context={"totals": totals},
    )
