"""The context around a case in a real browser (Chromium through Playwright, live server): the
account page with its timeline and usual-activity band, the labelled neighbours behind the
verdict, and the curation signals' badges. Screenshots of the account page and the case page."""

import urllib.request

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from cases.tests.test_browser_case import seed_realistic_case
from cases.tests.workflow_fixtures import make_queue, make_reason_codes, make_user
from conftest import BASE_DIR, sign_in_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ACCOUNT_SCREENSHOT = BASE_DIR / "docs" / "screenshots" / "account.png"


@pytest.fixture(autouse=True)
def fresh_population_cache():
    cache.clear()


@pytest.fixture
def warm_server(live_server):
    """The live server's first request imports every view module (several seconds on a busy
    machine): made here, so the browser's 10 s timeouts measure the pages, not the start-up."""
    urllib.request.urlopen(f"{live_server.url}/auth/login/", timeout=120).read()
    return live_server


@pytest.fixture
def seeded(warm_server):
    analyst = make_user("ana", "analyst")
    make_user("olga", "analyst")
    queue = make_queue("General", analyst, sla_hours=8, is_default=True)
    make_queue("High risk", make_user("hugo", "analyst"))
    make_reason_codes()
    return analyst, queue, seed_realistic_case(analyst, queue)


def test_the_account_page_from_the_case_page(live_server, browser_page, seeded):
    _, _, case = seeded
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case.reference}/")

    page.locator("#case-account-link").click()

    expect(page).to_have_url(f"{live_server.url}/accounts/acc_04711/")
    expect(page.locator("h1")).to_have_text("Account acc_04711")
    # 38 old transactions and the case's 7, baseline band drawn under the points.
    expect(page.locator("#account-timeline[data-rendered='45']")).to_be_attached()
    expect(page.locator("#account-timeline")).to_have_attribute("data-baseline", "shown")
    expect(page.locator("#account-timeline .scatterlayer .trace")).to_have_count(5)
    expect(page.locator("#account-cases li")).to_have_count(2)
    expect(page.locator("#account-cases")).to_contain_text("False positive")
    expect(page.locator("#account-devices")).to_contain_text("dev_7f3a")
    expect(page.locator("#account-ips")).to_contain_text("185.220.101.44")
    expect(page.locator("#account-countries")).to_contain_text("RO")
    expect(page.locator("#account-label-history tbody tr")).to_have_count(2)
    expect(page.locator("#account-page-info")).to_have_text(
        "1–45 of 45, newest first: every transaction the detector sent, approved or not."
    )
    page.wait_for_timeout(300)  # plotly's transitions
    ACCOUNT_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    # The top of the page: facts, timeline, cases, devices, IPs and the first transactions.
    page.set_viewport_size({"width": 1280, "height": 1500})
    page.wait_for_timeout(500)  # the chart redraws at the new size
    page.screenshot(path=str(ACCOUNT_SCREENSHOT))
    assert ACCOUNT_SCREENSHOT.stat().st_size > 50_000

    # A device id is a link too: the device page lists the account back.
    page.locator("#account-devices a", has_text="dev_c0ffee").click()
    expect(page.locator("h1")).to_have_text("Device dev_c0ffee")
    expect(page.locator("#device-accounts")).to_contain_text("acc_04711")
    expect(page.locator("#device-accounts")).to_contain_text("acc_09312")


def test_another_queues_account_is_not_found_in_the_browser(live_server, browser_page, seeded):
    page = browser_page
    sign_in_browser(page, live_server, "hugo")
    response = page.goto(f"{live_server.url}/accounts/acc_04711/")
    assert response.status == 404
    expect(page.locator("main")).not_to_contain_text("tx_9")


def test_the_labelled_neighbours_behind_the_verdict(live_server, browser_page, seeded):
    _, _, case = seeded
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case.reference}/")

    section = page.locator("#neighbours")
    expect(section.locator("#neighbours-for")).to_contain_text(
        "the mean of the embeddings of all 7 of its transactions"
    )
    labelled = section.locator("#labelled-neighbours tbody tr")
    expect(labelled).to_have_count(10)
    # The four confirmed frauds of acc_02207 are nearest; the account's own legitimate past
    # (another case) fills the rest.
    expect(section.locator("#labelled-neighbours tbody tr.labelled-neighbour-fraud")).to_have_count(
        4
    )
    expect(section.locator("#labelled-verdict")).to_contain_text(
        "4 of 10 nearest labelled neighbours were fraud"
    )
    # Beside it, the most similar transactions of all, labelled or not.
    expect(section.locator("#similar")).to_contain_text("Apple.com/bill")
    box_labelled = section.locator("#labelled-neighbours").bounding_box()
    box_similar = section.locator("#similar").bounding_box()
    assert box_similar["x"] > box_labelled["x"] + box_labelled["width"] - 1  # side by side

    labelled.first.get_by_role("link", name="acc_02207").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/acc_02207/")
    expect(page.locator("#account-cases")).to_contain_text("Confirmed fraud")


def test_curation_badges_on_the_case_the_row_and_the_ip_page(live_server, browser_page, seeded):
    _, _, case = seeded
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case.reference}/")

    header_badges = page.locator("#case-network .net-badge")
    expect(header_badges).to_have_text(["Tor", "VPN", "Proxy", "Hosting"])
    tor_row = page.locator(".case-transactions tr", has_text="tx_91004")
    expect(tor_row.locator(".net-badge")).to_have_text(["Tor", "Proxy", "Hosting"])
    expect(tor_row).to_contain_text("AS60729 Stiftung Erneuerbare Freiheit")
    expect(
        page.locator(".case-transactions tr", has_text="tx_91006").locator(".net-badge")
    ).to_have_count(0)
    # A verdict re-renders the row through htmx: the badges stay.
    tor_row.get_by_role("button", name="Block").click()
    expect(tor_row.get_by_role("status")).to_have_text("Decision saved: block.")
    expect(tor_row.locator(".net-badge")).to_have_text(["Tor", "Proxy", "Hosting"])

    tor_row.get_by_role("link", name="185.220.101.44").click()
    expect(page.locator("#ip-signals .net-badge")).to_have_text(["Tor", "Proxy", "Hosting"])
    expect(page.locator("#ip-asn")).to_contain_text("AS60729 Stiftung Erneuerbare Freiheit")
    expect(page.locator("#ip-asn")).to_contain_text("from curation records")
    expect(page.locator("#ip-asn")).not_to_contain_text("ASN unknown")
