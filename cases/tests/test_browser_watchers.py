"""Watchers and mentions in a real browser: follow a case, a colleague's @mention lights the
bell, the notifications page opens the case and marks it read."""

import pytest

from cases.models import CaseStatus, CaseWatcher, Notification
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from conftest import sign_in_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team():
    ana, bob = make_user("ana", "analyst"), make_user("bob", "analyst")
    queue = make_queue("General", ana, bob)
    return {"case": make_case(queue, status=CaseStatus.IN_REVIEW, assignee=ana)}


def bell_count(page) -> str:
    page.locator("#bell-count").wait_for()
    return page.locator("#bell-count").get_attribute("data-unread")


def test_follow_mention_bell_and_mark_read(live_server, browser_page, team):
    case = team["case"]
    case_url = f"{live_server.url}/cases/{case.reference}/"
    bob = browser_page
    # A live server's first pages on a machine shared by many test runs can take over the
    # fixture's 10 s; the test waits for outcomes, not for a time.
    bob.set_default_timeout(60_000)
    sign_in_browser(bob, live_server, "bob")
    assert bell_count(bob) == "0"

    bob.goto(case_url)
    bob.get_by_role("button", name="Follow", exact=True).click()
    bob.wait_for_load_state("networkidle")
    assert bob.locator("#case-follower-list").inner_text() == "Followed by bob"
    assert CaseWatcher.objects.filter(case=case, user__username="bob").exists()

    page = bob
    page.get_by_role("button", name="Sign out").click()
    sign_in_browser(page, live_server, "ana")
    page.goto(case_url)
    page.get_by_label("Add a note").fill("@bob the customer called back; @olga fyi")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_load_state("networkidle")
    assert "Notified: @bob" in page.content()
    assert "Not notified (no such user, or they cannot see this case): @olga" in page.content()
    page.get_by_role("button", name="Sign out").click()
    sign_in_browser(page, live_server, "bob")

    assert bell_count(bob) == "1"  # mentioned: one notification, not a second as follower
    bob.get_by_role("link", name="Notifications").click()
    bob.wait_for_url("**/notifications/")
    item = bob.locator("li.notification-unread")
    assert item.count() == 1
    assert "ana mentioned you on" in item.inner_text()
    item.get_by_role("button", name=f"Open {case.reference}").click()
    bob.wait_for_url(f"**/cases/{case.reference}/")
    assert bell_count(bob) == "0"
    assert Notification.objects.get().read_at is not None
