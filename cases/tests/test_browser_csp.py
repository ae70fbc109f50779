"""The Content-Security-Policy in a real browser: the main pages, charts drawn, raise no
policy violation and no console message (no inline script or style anywhere, no eval)."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from cases.tests.test_browser_case import seed_realistic_case
from cases.tests.workflow_fixtures import make_queue, make_reason_codes, make_user
from conftest import sign_in_lead_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Reports each violation to the test, from every document the page loads (added through the
# browser's protocol, so the policy does not apply to this script itself).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  window.reportCspViolation([event.violatedDirective, event.blockedURI,
                             event.sourceFile + ":" + event.lineNumber + ":" + event.columnNumber, event.sample].join(" "));
});
"""


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the live server shares this process's cache


def test_the_main_pages_keep_the_policy_without_a_violation(live_server, browser_page):
    analyst = make_user("ana", "analyst")
    admin = make_user("adm", "admin")
    queue = make_queue("General", analyst, admin, sla_hours=8, is_default=True)
    make_reason_codes()
    case = seed_realistic_case(analyst, queue)
    page = browser_page
    violations: list[str] = []
    console: list[str] = []
    page.expose_function("reportCspViolation", lambda report: violations.append(report))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: console.append(f"{message.type}: {message.text} {message.location}"),
    )
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    sign_in_lead_browser(page, live_server, admin)

    page.goto(f"{live_server.url}/")
    expect(page.locator("#queue-rows tr.queue-row").first).to_be_attached()

    page.goto(f"{live_server.url}/cases/{case.reference}/")
    expect(page.locator("#case-timeline[data-rendered='45']")).to_be_attached()
    expect(page.locator("#case-ip-map[data-rendered]")).to_be_attached()
    # Plotly's hover label (its drag layer takes the pointer events: move the mouse there).
    page.locator("#case-timeline").scroll_into_view_if_needed()
    box = page.locator("#case-timeline .scatterlayer .point").nth(20).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
    expect(page.locator("#case-timeline .hoverlayer .hovertext").first).to_be_attached()
    page.locator("#case-links").scroll_into_view_if_needed()  # loads the graph (htmx)
    expect(page.locator("#case-links-graph[data-rendered]")).to_be_attached()

    page.goto(f"{live_server.url}/accounts/acc_04711/")
    expect(page.locator("#account-timeline[data-rendered='45']")).to_be_attached()

    page.goto(f"{live_server.url}/ips/185.220.101.44/")
    expect(page.locator("[data-rendered]").first).to_be_attached()

    page.goto(f"{live_server.url}/analytics/ip-map/?since=2026-08-01&until=2026-12-31")
    expect(page.locator("#ip-map[data-rendered]")).to_be_attached()

    for path, heading in [
        ("/audit/", "Audit trail"),
        ("/labels/held/", "Labels for retraining"),
        ("/rings/", "Rings"),
        ("/overview/", None),
        ("/ingest/", None),
    ]:
        page.goto(f"{live_server.url}{path}")
        if heading:
            expect(page.get_by_role("heading", name=heading, exact=False).first).to_be_visible()
    page.wait_for_timeout(300)  # late reports

    assert violations == []
    assert console == []

    # The listener does catch a violation: an inline style attribute set by script.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(300)
    assert len(violations) == 1 and violations[0].startswith("style-src-attr")
