"""The curation page while a worker computes a large range, in a real browser on a live
server: the countries are drawn at once, the computation's elapsed time and estimated
progress update from the status endpoint without a reload, and when the computation is
stored the page reloads itself once and draws the IP and ASN charts; under the content
security policy (no violation, no console message)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from analytics.models import CurationSnapshot
from analytics.rollups import rollups_rebuild
from analytics.tasks import compute_curation
from analytics.tests.test_curation import seen_ips
from cases.tests.test_browser_csp import REPORT_VIOLATIONS
from cases.tests.workflow_fixtures import make_user
from conftest import sign_in_lead_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_page_shows_the_computations_progress_then_its_charts(
    live_server,
    browser_page,
    settings,
    celery_worker_factory,  # purged queue; no worker
):
    cache.clear()
    settings.FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS = 5
    lead = make_user("lea", "lead")
    seen_ips()
    rollups_rebuild()
    today = timezone.localdate()
    since, until = today - timedelta(days=9), today - timedelta(days=1)
    page = browser_page
    violations, console = [], []
    page.expose_function("reportCspViolation", lambda report: violations.append(report))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    sign_in_lead_browser(page, live_server, lead)

    page.goto(f"{live_server.url}/analytics/curation/?since={since}&until={until}")

    expect(page.locator("#curation-countries[data-rendered]")).to_be_attached()
    box = page.locator("#curation-computation")
    expect(box).to_contain_text(f"Computing the IPs and ASNs for {since} to {until}: started")
    expect(page.locator("#curation-ips")).to_have_count(0)
    # A comparable computation took 200 s for as many transactions; this one was asked for
    # 100 s ago (moved back): the next poll shows it, about half done, without a reload.
    CurationSnapshot.objects.filter(since=since).update(
        requested_at=timezone.now() - timedelta(seconds=100), duration_seconds=200
    )
    expect(page.locator("#curation-computation-estimate")).to_contain_text(
        "% done (an estimate", timeout=15000
    )
    elapsed = int(page.locator("#curation-computation-elapsed").text_content())
    assert 100 <= elapsed < 200
    progress = page.locator("#curation-computation-progress").evaluate("bar => bar.value")
    assert 0.45 < progress < 0.99

    compute_curation(since.isoformat(), until.isoformat())  # what the worker does

    expect(page.locator("#curation-ips[data-rendered]")).to_be_attached(timeout=15000)
    expect(page.locator("#curation-asns[data-rendered]")).to_be_attached()
    expect(page.locator("#curation-computation")).to_have_count(0)
    expect(page.locator("#curation-ip-links")).to_contain_text("8.8.8.8 (5)")
    assert violations == [] and console == []
