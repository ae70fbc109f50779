"""The curation dashboard: where flagged volume and fraud come from."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from analytics.common.access import team_dashboard
from analytics.common.charts import Chart, Trace
from analytics.common.pages import dashboard_response, range_from
from analytics.common.ranges import DayRange, RangeForm
from analytics.curation.selectors import curation_computation, top_countries
from analytics.curation.services import curation_computation_request, curation_ips_for_page


def _volume_and_rate(chart_id, title, columns, rows, *, name, flagged, rate, note=""):
    return Chart(
        chart_id, title, columns, rows,
        [Trace(name="flagged", x=[r[name] for r in rows], y=[r[flagged] for r in rows]),
         Trace(name="fraud rate", x=[r[name] for r in rows], y=[r[rate] for r in rows],
               kind="markers", axis="y2")],
        y_title="flagged transactions", note=note,
    )  # fmt: skip


def _range_query(day_range: DayRange) -> str:
    return urlencode({"since": day_range.since.isoformat(), "until": day_range.until.isoformat()})


@team_dashboard
def curation_page(request):
    """Top countries, ASNs and IPs by flagged volume, with their fraud rate.

    The IPs and ASNs need an aggregation over every source IP of the range: read from a fresh
    snapshot or the IP map's cache, computed here for a small range, else left to a worker
    while the page shows how far it is (curation_status polls it)."""
    form, day_range = range_from(request)
    countries = top_countries(day_range)
    top, computation = curation_ips_for_page(day_range)
    ips, asns = (top.ips, top.asns) if top is not None else ([], [])
    rate_note = "Fraud rate: fraud among the labelled transactions (right-hand axis)."
    charts = [
        _volume_and_rate("curation-countries", "Top countries by flagged volume",
                         ["country", "flagged", "labelled", "fraud", "fraud rate"], countries,
                         name=0, flagged=1, rate=4, note=rate_note),
    ]  # fmt: skip
    if top is not None:
        charts += [
            _volume_and_rate("curation-asns", "Top ASNs by flagged volume (of the IP map's IPs)",
                             ["ASN", "organisation", "IPs", "flagged", "labelled", "fraud", "fraud rate"],
                             asns, name=0, flagged=3, rate=6, note=rate_note),
            _volume_and_rate("curation-ips", "Top IPs by flagged volume",
                             ["IP", "place", "ASN", "flagged", "labelled", "fraud", "fraud rate", "IP page"],
                             ips, name=0, flagged=3, rate=6, note=rate_note),
        ]  # fmt: skip
    query = _range_query(day_range)
    return dashboard_response(
        request,
        template="analytics/dashboards/curation.html",
        title="Curation",
        form=form,
        day_range=day_range,
        charts=charts,
        context={
            "map_url": reverse("ip-map") + "?" + query, "ips": ips, "top": top,
            "computation": computation,
            "status_url": reverse("analytics-curation-status") + "?" + query,
            "page_url": reverse("analytics-curation") + "?" + query,
            "snapshot_minutes": settings.FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE // 60,
        },
    )  # fmt: skip


@require_GET
@team_dashboard
def curation_status(request):
    """Where the computation of a range's IPs and ASNs stands, as JSON (the page polls it):
    state computing, ready, failed or none, seconds since it was asked for, an estimate of
    its length from the last comparable computation, and the failure's message."""
    form, day_range = range_from(request)
    if form.is_bound and not form.is_valid():
        return JsonResponse({"error": "the range was refused", "fields": form.errors}, status=400)
    return JsonResponse(curation_computation(day_range).as_json())


@require_POST
@team_dashboard
def curation_retry(request):
    """Ask again for a range whose computation failed or ran out of time; back to the page."""
    form = RangeForm(request.POST)
    day_range = form.day_range()
    if form.is_valid():
        curation_computation_request(day_range, retry=True)
    return redirect(reverse("analytics-curation") + "?" + _range_query(day_range))
