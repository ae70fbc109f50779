"""The IP map in a real browser (Debian's Chromium through Playwright) on a live server: the
world map renders from the local topojson with one point per placed IP, and a point's hover
text stays text."""

from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from cases.tests.link_fixtures import analyst_of_every_case, tx
from conftest import sign_in_browser


@pytest.fixture(autouse=True)
def no_map_from_an_earlier_test():
    cache.clear()  # the map is cached per filter set, in this process (and its live server)


pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "ip_map.png"
PUBLIC_IPS = ["8.8.8.8", "81.2.69.142", "89.160.20.128", "2.125.160.216", "175.16.199.1", "5.9.1.1"]


def test_the_map_draws_one_point_per_placed_ip(live_server, browser_page):
    for number, ip in enumerate(PUBLIC_IPS):
        for _ in range(number + 1):
            tx(f"acc-{number}", ip=ip, label="fraud" if number % 2 else "")
    tx("<b>lan</b>", ip="192.168.1.1")  # never placed: listed under the map
    analyst_of_every_case()
    page = browser_page
    offline_map_requests = []
    page.on("request", lambda r: offline_map_requests.append(r.url) if "plot.ly" in r.url else None)
    sign_in_browser(page, live_server, "ana")

    page.goto(f"{live_server.url}/analytics/ip-map/?since=2026-11-01&until=2026-11-30")

    holder = page.locator("#ip-map[data-rendered='6']")
    expect(holder).to_be_attached()
    assert page.evaluate("document.getElementById('ip-map').data[0].lat.length") == 6
    # Plotly drew the points and the countries (topojson served by the app, not a CDN).
    expect(page.locator("#ip-map .scattergeo .point")).to_have_count(6)
    expect(page.locator("#ip-map path.countries, #ip-map .countries path").first).to_be_attached()
    assert offline_map_requests == []
    expect(page.locator("#ip-unplaced")).to_contain_text("<b>lan</b>")
    # Hover text goes through the shared escape (static/js/charts.js), loaded on this page.
    assert page.evaluate('window.FraudCase.escapeHtml(`<b a="1">&\'`)') == (
        "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
    )
    page.screenshot(path=str(SCREENSHOT), full_page=True)  # the README shows it

    page.get_by_label("open cases").check()
    expect(page.locator("#ip-map[data-colour='open_cases']")).to_be_attached()
    assert page.evaluate("document.getElementById('ip-map').data[0].marker.color.length") == 6

    # Busiest first: the second point is 175.16.199.1 (China, five transactions, alone there).
    # Plotly's map layer takes the pointer events: hover, then click where the point is.
    box = page.locator("#ip-map .scattergeo .point").nth(1).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_url("**/ips/175.16.199.1/")
