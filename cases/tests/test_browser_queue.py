"""The triage queue in a real browser: filters, keyboard navigation, claim next, help, and a
screenshot of the queue for the README."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from cases.ingest.case_opening import cases_refresh_priority
from cases.models import Case, CaseStatus, Tag, Transaction
from cases.tests.workflow_fixtures import make_queue, make_user
from conftest import sign_in_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# account, transactions as (amount, merchant, country, score, outcome), status, assignee,
# hours since opened, SLA hours from now (negative: breached), tags
CASES = [
    ("ACC-4471-0923", [(4890, "ElectroWorld Online", "NG", 0.97, "block"),
                       (2310, "ElectroWorld Online", "NG", 0.93, "block")],
     CaseStatus.OPEN, None, 5, -1, ["card-testing"]),
    ("ACC-1180-3375", [(129.99, "Café \"Zur Post\", Berlin", "DE", 0.88, "investigate"),
                       (64.5, "Bäckerei Müller", "DE", 0.71, "investigate"),
                       (910, "Gift Cards 24", "RO", 0.91, "block")],
     CaseStatus.IN_REVIEW, "ana", 20, 3, []),
    ("ACC-9902-1147", [(15800, "Wire transfer", "AE", 0.84, "investigate")],
     CaseStatus.OPEN, None, 2, 21, ["mule"]),
    ("ACC-3321-7788", [(42.1, "Streamly", "GB", 0.62, "approve"),
                       (42.1, "Streamly", "GB", 0.64, "approve")],
     CaseStatus.OPEN, None, 30, -6, []),
    ("ACC-5510-0042", [(1250, "Luxe Watches", "FR", 0.79, "investigate"),
                       (2380, "Luxe Watches", "FR", 0.82, "investigate"),
                       (980, "Luxe Watches", "CH", 0.77, "investigate")],
     CaseStatus.ESCALATED, "bob", 50, 10, ["vip"]),
    ("ACC-7734-9921", [(7.99, "App Store", "US", 0.55, "approve")],
     CaseStatus.OPEN, None, 1, 23, []),
    ("ACC-2208-6613", [(3300, "Crypto Exchange X", "MT", 0.95, "block")],
     CaseStatus.WAITING_ON_CUSTOMER, "ana", 70, 2, ["mule", "crypto"]),
    ("ACC-6650-1209", [(560, "Airline Tickets", "ES", 0.73, "investigate"),
                       (560, "Airline Tickets", "ES", 0.74, "investigate")],
     CaseStatus.OPEN, None, 8, 16, []),
    ("ACC-8012-4455", [(89, "Food Delivery", "NL", 0.58, "approve")],
     CaseStatus.OPEN, None, 12, 12, []),
]  # fmt: skip


def seed_cases(queue, users: dict) -> list[Case]:
    """Cases with varied scores, amounts, countries, statuses, assignees, SLAs and tags."""
    now = timezone.now()
    cases = []
    for number, (account, txs, status, assignee, age_hours, sla_hours, tags) in enumerate(CASES):
        opened = now - timedelta(hours=age_hours)
        case = Case.objects.create(
            account_id=account, queue=queue, status=status, opened_at=opened,
            assignee=users.get(assignee), due_at=now + timedelta(hours=sla_hours, minutes=-7),
        )  # fmt: skip
        for index, (amount, merchant, country, score, outcome) in enumerate(txs):
            Transaction.objects.create(
                transaction_id=f"tx-{number:02d}-{index}", account_id=account,
                occurred_at=opened - timedelta(hours=3) + timedelta(minutes=17 * index),
                amount=Decimal(str(amount)), currency="EUR", merchant=merchant, country=country,
                source_ip=f"81.2.69.{10 + number}", device_id=f"dev-{number:03d}",
                similarity_score=score, model_version="detector-2026.11.2", outcome=outcome,
                case=case,
            )  # fmt: skip
        for name in tags:
            case.tags.add(Tag.objects.get_or_create(name=name)[0])
        cases.append(case)
    cases_refresh_priority(case_ids=[case.pk for case in cases])
    return cases


@pytest.fixture
def queue_world():
    ana = make_user("ana", "analyst")
    bob = make_user("bob", "analyst")
    general = make_queue("General", ana, bob, sla_hours=24)
    make_queue("High risk", ana, sla_hours=4, routing_order=10)
    cases = seed_cases(general, {"ana": ana, "bob": bob})
    return {"ana": ana, "bob": bob, "cases": cases}


def focused_case_id(page) -> str | None:
    return page.evaluate("document.activeElement.dataset && document.activeElement.dataset.caseId")


def test_filter_the_queue_and_save_a_screenshot(live_server, browser_page, queue_world):
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/?tab=queue-{queue_world['cases'][0].queue_id}")

    rows = page.locator("#queue-rows tr.queue-row")
    assert rows.count() == 9
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)

    page.get_by_label("Score from").fill("0.9")
    page.get_by_label("Country").fill("ng")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.wait_for_load_state("networkidle")

    assert "score_min=0.9" in page.url and "country=ng" in page.url
    assert rows.count() == 1
    assert rows.first.get_attribute("data-case-id") == str(queue_world["cases"][0].pk)
    assert page.get_by_label("Score from").input_value() == "0.9"  # refresh keeps the filters
    page.get_by_role("link", name="Clear filters").first.click()
    page.wait_for_load_state("networkidle")
    assert rows.count() == 9


def test_keyboard_moves_between_rows_and_enter_opens_the_case(
    live_server, browser_page, queue_world
):
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/?tab=queue-{queue_world['cases'][0].queue_id}&sort=reference")
    ids = page.locator("#queue-rows tr.queue-row").evaluate_all(
        "rows => rows.map(row => row.dataset.caseId)"
    )

    page.keyboard.press("j")
    assert focused_case_id(page) == ids[0]
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert focused_case_id(page) == ids[2]
    page.keyboard.press("k")
    assert focused_case_id(page) == ids[1]

    page.get_by_role("searchbox", name="Search").focus()
    page.keyboard.press("j")  # typed into the field, not a shortcut
    assert page.get_by_role("searchbox", name="Search").input_value() == "j"

    page.locator(f'tr[data-case-id="{ids[1]}"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/cases/{Case.objects.get(pk=ids[1]).reference}/")


def test_a_assigns_the_focused_case_to_me_and_the_counts_follow(
    live_server, browser_page, queue_world
):
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/?tab=unassigned&sort=reference")
    first = page.locator("#queue-rows tr.queue-row").first.get_attribute("data-case-id")
    assert page.locator("#queue-count-mine").inner_text() == "2"

    page.keyboard.press("j")
    page.keyboard.press("a")

    # A function, not an expression string: evaluating a string is eval, which the CSP refuses.
    page.wait_for_function("() => document.querySelector('#queue-count-mine').textContent === '3'")
    assert Case.objects.get(pk=first).assignee == queue_world["ana"]
    assert page.locator(f'#queue-rows tr[data-case-id="{first}"]').count() == 0
    assert "assigned to you" in page.locator("#queue-messages").inner_text()
    assert focused_case_id(page) is not None  # the focus stays in the list


def test_claim_next_lands_on_the_case_page(live_server, browser_page, queue_world):
    page = browser_page
    sign_in_browser(page, live_server, "bob")
    expected = (
        Case.objects.filter(assignee__isnull=True, status=CaseStatus.OPEN)
        .order_by("-priority", "opened_at", "id")
        .first()
    )

    page.goto(f"{live_server.url}/")
    page.get_by_role("button", name="Claim next").click()

    page.wait_for_url(f"**/cases/{expected.reference}/")
    assert Case.objects.get(pk=expected.pk).assignee == queue_world["bob"]


def test_question_mark_opens_the_shortcut_help(live_server, browser_page, queue_world):
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert not help_dialog.is_visible()

    page.keyboard.press("?")

    assert help_dialog.is_visible()
    assert "Assign the case to me" in help_dialog.inner_text()
    page.keyboard.press("Escape")
    assert not help_dialog.is_visible()


def test_the_queue_is_usable_on_a_tablet(live_server, browser_page, queue_world):
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/?tab=queue-{queue_world['cases'][0].queue_id}")

    # The page itself does not scroll sideways; the table scrolls inside its own region.
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    assert page.get_by_role("button", name="Claim next").is_visible()
    assert page.get_by_role("searchbox", name="Search").is_visible()
    page.screenshot(path="/tmp/queue-tablet.png", full_page=True)


def test_the_list_refreshes_every_30_seconds_keeping_filters_unless_cases_are_selected(
    live_server, browser_page, queue_world
):
    page = browser_page
    page.clock.install()  # the page's timers run only when the test moves the clock
    sign_in_browser(page, live_server, "ana")
    page.goto(f"{live_server.url}/?tab=unassigned&score_min=0.9")
    rows = page.locator("#queue-rows tr.queue-row")
    assert rows.count() == 1
    newcomer = Case.objects.create(account_id="ACC-0000-0001", queue=queue_world["cases"][0].queue)
    Transaction.objects.create(
        transaction_id="tx-new", account_id=newcomer.account_id, occurred_at=timezone.now(),
        amount=Decimal("999.00"), currency="EUR", similarity_score=0.99, model_version="m",
        outcome="block", case=newcomer,
    )  # fmt: skip
    cases_refresh_priority(case_ids=[newcomer.pk])
    Case.objects.filter(pk=queue_world["cases"][0].pk).update(status=CaseStatus.CLOSED)

    page.locator("#queue-rows input.queue-select").first.check()
    page.clock.run_for(31_000)
    page.wait_for_timeout(300)
    assert rows.first.get_attribute("data-case-id") == str(queue_world["cases"][0].pk)

    page.locator("#queue-rows input.queue-select").first.uncheck()
    with page.expect_response(lambda response: "/cases/?" in response.url) as refresh:
        page.clock.run_for(31_000)
    assert "score_min=0.9" in refresh.value.url
    page.wait_for_function(
        f"() => document.querySelector('#queue-rows tr.queue-row')?.dataset.caseId === '{newcomer.pk}'"
    )
    assert rows.count() == 1

    # Left alone, the page stops polling after 10 idle minutes: the session may then lapse.
    refreshes = []
    page.on(
        "request",
        lambda request: refreshes.append(request.url) if "/cases/?" in request.url else None,
    )
    page.clock.run_for(12 * 60_000)
    idle_since = len(refreshes)
    page.clock.run_for(5 * 60_000)
    assert 0 < idle_since <= 20 and len(refreshes) == idle_since
