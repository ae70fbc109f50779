"""The dashboards in a real browser (Debian's Chromium through Playwright) on a live server:
every dashboard draws its charts with data under the content security policy (no violation,
no console message), and each dashboard's drawn chart's downloaded CSV, and the IP map's,
equals its table."""

import csv
import io
from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from analytics.rollups import rollups_rebuild
from analytics.tests.builders import quality_dataset
from cases.tests.test_browser_csp import REPORT_VIOLATIONS
from cases.tests.workflow_fixtures import make_user
from conftest import sign_in_lead_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RANGE = "?since=2026-11-01&until=2026-11-30"
# Per dashboard, a chart that must be drawn with data from the built dataset.
DRAWN = {
    "quality": "quality-pr", "drift": "drift-psi", "operations": "ops-flagged",
    "money": "money-daily", "labels": "labels-per-analyst", "curation": "curation-countries",
}  # fmt: skip


def csv_and_table(page, chart_id: str) -> tuple[list[list[str]], list[list[str]]]:
    """The chart's downloaded CSV and the table behind it as the page shows it."""
    with page.expect_download() as download_info:
        page.locator(f"#{chart_id}-csv").click()
    downloaded = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text())))
    page.locator(f"#{chart_id}-table").locator("xpath=..").locator("summary").click()
    table = page.locator(f"#{chart_id}-table tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )
    return downloaded, table


def test_every_dashboard_draws_its_charts_and_a_charts_csv_is_its_table(live_server, browser_page):
    cache.clear()
    lead = make_user("lea", "lead")
    ana = make_user("ana", "analyst")
    quality_dataset(analyst=ana)
    from analytics.models import LabelFact
    from cases.models import LabelVersion

    LabelVersion.objects.filter(
        transaction_id__in=LabelFact.objects.values("transaction_id")
    ).update(analyst=ana)
    from cases.models import Transaction

    # Source IPs for the IP map and the curation page.
    for tx, ip in zip(
        Transaction.objects.order_by("pk")[:3], ["8.8.8.8", "8.8.8.8", "81.2.69.142"], strict=True
    ):
        Transaction.objects.filter(pk=tx.pk).update(source_ip=ip)
    rollups_rebuild()
    page = browser_page
    violations, console = [], []
    page.expose_function("reportCspViolation", lambda report: violations.append(report))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    sign_in_lead_browser(page, live_server, lead)

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Detector quality")).to_be_visible()

    types_drawn = set()
    for dashboard, chart_id in DRAWN.items():
        page.goto(f"{live_server.url}/analytics/{dashboard}/{RANGE}")
        holder = page.locator(f"#{chart_id}[data-rendered]")
        expect(holder).to_be_attached()
        assert int(holder.get_attribute("data-rendered")) > 0, dashboard
        expect(page.locator(".dashboard-chart:not([data-rendered])")).to_have_count(0)
        # Each trace is drawn as the type it asked for: a plotly bundle without bar traces
        # draws bars as a line, with no error.
        asked_and_drawn = page.locator(".dashboard-chart").evaluate_all(
            "charts => charts.map(c => [c.id, (c.data || []).map(t => t.type || 'scatter'),"
            " (c._fullData || []).map(t => t.type)])"
        )
        for chart, asked, drawn in asked_and_drawn:
            assert asked == drawn, (dashboard, chart, asked, drawn)
            types_drawn.update(drawn)
        downloaded, table = csv_and_table(page, chart_id)
        assert downloaded == table and len(table) > 1, dashboard

    assert {"bar", "scatter"} <= types_drawn, types_drawn

    # The IP map's points: the same, from the table behind the map.
    page.goto(f"{live_server.url}/analytics/ip-map/{RANGE}")
    downloaded, table = csv_and_table(page, "ip-map-points")
    assert downloaded == table and len(table) > 1

    page.goto(f"{live_server.url}/analytics/quality/{RANGE}")
    expect(page.locator("#quality-pr[data-rendered]")).to_be_attached()
    page.locator("#quality-pr").scroll_into_view_if_needed()
    box = page.locator("#quality-pr .scatterlayer .point").nth(4).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
    expect(page.locator("#quality-pr .hoverlayer .hovertext").first).to_be_attached()
    downloaded, table = csv_and_table(page, "quality-pr")
    assert downloaded == table and len(table) == 13  # the header, m2 two points, m1 ten
    page.wait_for_timeout(300)
    assert violations == []
    assert console == []
