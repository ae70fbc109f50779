"""The case page's link graph in a real browser: htmx loads the panel, plotly draws it."""

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from cases.tests.link_fixtures import account_case, analyst_of_every_case, tx
from conftest import sign_in_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@override_settings(FRAUDCASE_LINK_HUB_DEGREE=3)
def test_the_link_graph_loads_and_draws_each_node(live_server, browser_page):
    tx("centre", ip="81.2.69.10", device="dev-1")
    tx("friend", device="dev-1", label="fraud")
    for i in range(5):
        tx(f"nat-{i}", ip="81.2.69.10")  # a hub: drawn once, not followed
    case = account_case("centre")
    analyst_of_every_case()
    page = browser_page
    sign_in_browser(page, live_server, "ana")

    page.goto(f"{live_server.url}/cases/{case.reference}/")
    page.locator("#links").scroll_into_view_if_needed()

    expect(page.locator("#case-links-graph[data-rendered='4']")).to_be_attached()
    expect(page.locator("#links")).to_contain_text("1 shared hub")
    assert (
        page.evaluate(
            "document.getElementById('case-links-graph').data.filter(t => t.mode === 'markers')"
            ".reduce((n, t) => n + t.x.length, 0)"
        )
        == 4
    )
