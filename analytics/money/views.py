"""The money dashboard."""

from __future__ import annotations

from decimal import Decimal

from analytics.common.access import team_dashboard
from analytics.common.charts import Chart, series_traces
from analytics.common.pages import dashboard_response, range_from
from analytics.money.selectors import money_per_day


@team_dashboard
def money_page(request):
    """Amount at risk, confirmed as fraud and saved by blocks in the reporting currency, per
    day and running total; amounts without a rate for their day listed apart, never guessed."""
    form, day_range = range_from(request)
    report = money_per_day(day_range)
    currency = report.reporting_currency
    running = report.running_totals()
    totals = running[-1][1:] if running else [Decimal(0)] * 3
    series = {"at risk": 1, "confirmed fraud": 2, "saved by blocks": 3}
    amounts = [f"at risk ({currency})", f"confirmed fraud ({currency})",
               f"saved by blocks ({currency})"]  # fmt: skip
    no_rate = (
        f"Amounts in {currency}, each day's sum per currency at that day's rate. "
        "Transactions without a rate for their day are left out here and listed below."
    )
    charts = [
        Chart("money-daily", "Amounts per day (by the transactions' day)",
              ["day", *amounts, "flagged transactions without a rate"], report.daily,
              series_traces(report.daily, x=0, series=series), y_title=currency, note=no_rate),
        Chart("money-running", "Running totals over the range", ["day", *amounts], running,
              series_traces(running, x=0, series=series, kind="lines+markers"), y_title=currency),
        Chart("money-no-rate", "Amounts without an exchange rate (in their own currency)",
              ["currency", "flagged transactions", "at risk", "fraud-labelled transactions",
               "confirmed fraud", "saved by blocks", "first day", "last day"],
              report.unconverted,
              series_traces(report.unconverted, x=0, series={"flagged transactions": 1}),
              y_title="transactions",
              note="Not converted and not in the figures above: load a rate for these days "
                   "(docs/exchange-rates.md) and they join them."),
    ]  # fmt: skip
    return dashboard_response(
        request,
        template="analytics/dashboards/money.html",
        title="Money",
        form=form,
        day_range=day_range,
        charts=charts,
        context={"totals": totals, "report": report},
    )
