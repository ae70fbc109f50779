"""The browser test harness itself: Debian's Chromium, a live server, the real sign-in form."""

import pytest

from cases.tests.workflow_fixtures import make_user
from conftest import sign_in_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_analyst_signs_in_through_the_form(live_server, browser_page):
    make_user("ana", "analyst")

    sign_in_browser(browser_page, live_server, "ana")

    assert browser_page.get_by_role("button", name="Sign out").is_visible()
    assert "ana" in browser_page.locator("header").inner_text()
