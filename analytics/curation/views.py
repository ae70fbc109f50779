"""The curation dashboard: where flagged volume and fraud come from."""

from __future__ import annotations

from django.urls import reverse
from django.utils.http import urlencode

from analytics.common.access import team_dashboard
from analytics.common.charts import Chart, Trace
from analytics.common.pages import dashboard_response, range_from
from analytics.curation.selectors import top_countries, top_ips_and_asns


def _volume_and_rate(chart_id, title, columns, rows, *, name, flagged, rate, note=""):
    return Chart(
        chart_id, title, columns, rows,
        [Trace(name="flagged", x=[r[name] for r in rows], y=[r[flagged] for r in rows]),
         Trace(name="fraud rate", x=[r[name] for r in rows], y=[r[rate] for r in rows],
               kind="markers", axis="y2")],
        y_title="flagged transactions", note=note,
    )  # fmt: skip


@team_dashboard
def curation_page(request):
    """Top countries, ASNs and IPs by flagged volume, with their fraud rate."""
    form, day_range = range_from(request)
    countries = top_countries(day_range)
    top = top_ips_and_asns(day_range)
    ips, asns = top.ips, top.asns
    rate_note = "Fraud rate: fraud among the labelled transactions (right-hand axis)."
    charts = [
        _volume_and_rate("curation-countries", "Top countries by flagged volume",
                         ["country", "flagged", "labelled", "fraud", "fraud rate"], countries,
                         name=0, flagged=1, rate=4, note=rate_note),
        _volume_and_rate("curation-asns", "Top ASNs by flagged volume (of the IP map's IPs)",
                         ["ASN", "organisation", "IPs", "flagged", "labelled", "fraud", "fraud rate"],
                         asns, name=0, flagged=3, rate=6, note=rate_note),
        _volume_and_rate("curation-ips", "Top IPs by flagged volume",
                         ["IP", "place", "ASN", "flagged", "labelled", "fraud", "fraud rate", "IP page"],
                         ips, name=0, flagged=3, rate=6, note=rate_note),
    ]  # fmt: skip
    map_url = (
        reverse("ip-map")
        + "?"
        + urlencode({"since": day_range.since.isoformat(), "until": day_range.until.isoformat()})
    )
    return dashboard_response(
        request,
        template="analytics/dashboards/curation.html",
        title="Curation",
        form=form,
        day_range=day_range,
        charts=charts,
        context={"map_url": map_url, "ips": ips, "top": top},
    )
