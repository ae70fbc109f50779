"""The case page in a real browser (Debian's Chromium through Playwright) on a live server:
an analyst works a case from note to close, text from S3 stays text, a lead merges two cases."""

import math
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from cases.ingest.case_opening import cases_refresh_priority
from cases.models import Case, CaseStatus, CurationRecord, IngestRun, Transaction
from cases.similarity.services import cases_refresh_neighbour_verdict
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import BASE_DIR, sign_in_browser, sign_in_lead_browser, unit_vector

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

XSS = "<script>alert(1)</script>"
SCREENSHOT = BASE_DIR / "docs" / "screenshots" / "case.png"


@pytest.fixture(autouse=True)
def fresh_population_cache():
    # The live server shares this process's cache: no population baseline from another test.
    cache.clear()


@pytest.fixture
def team():
    analyst = make_user("ana", "analyst")
    lead = make_user("lea", "lead")
    queue = make_queue("General", analyst, sla_hours=8, is_default=True)
    make_reason_codes()
    return analyst, lead, queue


def case_url(live_server, case: Case) -> str:
    return f"{live_server.url}/cases/{case.reference}/"


def test_an_analyst_notes_decides_and_closes_a_case(live_server, browser_page, team):
    analyst, _, queue = team
    case = make_case(queue, transactions=3)
    first, second, _ = case.transactions.order_by("id")
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    queue_tab = f"{live_server.url}/?tab=queue-{queue.pk}"
    page.goto(queue_tab)
    expect(page.locator(f'tr[data-case-id="{case.pk}"]')).to_have_count(1)
    page.goto(case_url(live_server, case))
    expect(page.locator("#case-timeline[data-rendered='3']")).to_be_attached()
    # The most suspicious transaction's comparison is open; the others load when opened.
    second_why = page.locator("details.case-why").nth(1)
    second_why.locator("summary").click()
    expect(second_why).to_contain_text("The detector sent no features for this transaction")

    page.get_by_label("Add a note").fill("Customer denies the **ecommerce** payments.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".case-note-body strong")).to_have_text("ecommerce")
    expect(page.locator(".messages")).to_contain_text("Note added.")

    # Decisions and labels go through htmx: the row is swapped in place, no page load.
    row = page.locator(f"#tx-row-{first.pk}")
    row.get_by_role("button", name="Block").click()
    expect(row.get_by_role("button", name="Block")).to_have_attribute("aria-pressed", "true")
    expect(row.get_by_role("status")).to_have_text("Decision saved: block.")
    row.get_by_role("button", name="Fraud").click()
    expect(row.get_by_role("button", name="Fraud")).to_have_attribute("aria-pressed", "true")
    expect(row).to_contain_text("by ana")
    other_row = page.locator(f"#tx-row-{second.pk}")
    other_row.get_by_role("button", name="Approve").click()
    expect(other_row.get_by_role("button", name="Approve")).to_have_attribute(
        "aria-pressed", "true"
    )
    # Focus stays on the button that was pressed (same id after the swap): keyboard users keep their place.
    expect(other_row.get_by_role("button", name="Approve")).to_be_focused()

    page.get_by_role("button", name="Close case…").click()
    dialog = page.get_by_role("dialog", name=f"Close {case.reference}")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Confirmed fraud").check()
    expect(dialog.get_by_label("Customer confirmed the payment")).to_be_hidden()
    expect(dialog.get_by_label("Not enough evidence")).to_be_visible()
    dialog.get_by_label("Card details compromised").check()
    dialog.get_by_label("Comment").fill("Two countries within the hour; customer denies.")
    dialog.get_by_role("button", name="Close case").click()

    expect(page.locator(".case-title-row .case-status")).to_have_text("Closed")
    expect(page.locator(".messages")).to_contain_text(f"{case.reference} is closed.")
    history = page.locator("#history")
    expect(history).to_contain_text("Case closed")
    expect(history).to_contain_text("Transaction decided")
    expect(history).to_contain_text("Note added")
    page.goto(queue_tab)  # a closed case has left the queue
    expect(page.locator(f'tr[data-case-id="{case.pk}"]')).to_have_count(0)
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    decisions = dict(case.transactions.values_list("id", "decision"))
    assert decisions[first.pk] == "block" and decisions[second.pk] == "approve"


def test_a_merchant_named_like_a_script_stays_text(live_server, browser_page, team):
    _, _, queue = team
    case = make_case(queue, transactions=1)
    Transaction.objects.filter(case=case).update(merchant=XSS)
    page = browser_page
    alerts = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    sign_in_browser(page, live_server, "ana")

    page.goto(case_url(live_server, case))
    page.locator("#case-timeline .nsewdrag").first.hover()  # the chart's hover layer too

    expect(page.locator(".case-transactions tbody td").nth(2)).to_have_text(XSS)
    assert alerts == []
    assert page.evaluate("document.querySelectorAll('main script').length") == 0
    # The charts' hover text goes through the shared escape (static/js/charts.js).
    assert page.evaluate(f"window.FraudCase.escapeHtml({XSS!r})") == (
        "&lt;script&gt;alert(1)&lt;/script&gt;"
    )


def test_a_lead_merges_two_cases_through_the_dialog(live_server, browser_page, team):
    _, lead, queue = team
    source, target = make_case(queue), make_case(queue)
    page = browser_page
    sign_in_lead_browser(page, live_server, lead)
    page.goto(case_url(live_server, source))

    page.get_by_role("button", name="Merge into…").click()
    dialog = page.get_by_role("dialog", name=f"Merge {source.reference} into another case")
    dialog.get_by_label("Target case").fill(target.reference)
    dialog.get_by_label("Justification").fill("Same device and IP: one ring.")
    dialog.get_by_role("button", name="Merge").click()

    expect(page).to_have_url(case_url(live_server, target))
    expect(page.locator(".messages")).to_contain_text(
        f"{source.reference} was merged into {target.reference}."
    )
    expect(page.locator("#transactions .case-count")).to_have_text("4")
    page.goto(case_url(live_server, source))
    expect(page.get_by_role("note")).to_contain_text(
        f"This case was merged into {target.reference}"
    )


def test_escape_closes_a_dialog_and_focus_is_visible(live_server, browser_page, team):
    _, _, queue = team
    case = make_case(queue)
    page = browser_page
    sign_in_browser(page, live_server, "ana")
    page.goto(case_url(live_server, case))

    page.get_by_role("button", name="Close case…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Close {case.reference}")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Confirmed fraud")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_label("Add a note").focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


# --- the screenshot ------------------------------------------------------------------------

FEATURES = ("amount_z", "hour_sin", "merchant_risk", "velocity_1h", "distance_km_log", "new_device")
MERCHANTS = (
    "Rewe Berlin",
    "Amazon EU",
    "Deutsche Bahn",
    "Lidl",
    "Spotify",
    "Shell 1234",
    "Zalando",
)


def _normal_features(rng: random.Random) -> dict:
    return {
        "amount_z": round(rng.gauss(0, 0.8), 3),
        "hour_sin": round(math.sin(rng.uniform(1.4, 2.9)), 3),
        "merchant_risk": round(rng.uniform(0.02, 0.2), 3),
        "velocity_1h": rng.choice([0, 0, 1, 1, 2]),
        "distance_km_log": round(rng.uniform(0.5, 2.2), 3),
        "new_device": 0,
    }


def _near(base: np.ndarray, seed: int, spread: float) -> np.ndarray:
    vector = base + unit_vector(seed) * spread
    return vector / np.linalg.norm(vector)


def seed_realistic_case(analyst, queue) -> Case:
    """An account with three months of history, an older closed case and a fresh open one,
    and a confirmed-fraud case elsewhere whose transactions resemble the fresh one's."""
    rng = random.Random(20261201)
    fraud_pattern = unit_vector(777)
    start = datetime(2026, 8, 20, 9, tzinfo=UTC)
    past = Case.objects.create(account_id="acc_04711", queue=queue, status=CaseStatus.CLOSED,
                               resolution="false_positive")  # fmt: skip
    current = Case.objects.create(
        account_id="acc_04711",
        queue=queue,
        due_at=datetime.now(UTC) + timedelta(hours=2, minutes=40),
    )
    rows = []
    for index in range(38):
        at = start + timedelta(days=index * 2.3, hours=rng.uniform(0, 10))
        rows.append(Transaction(
            transaction_id=f"tx_{90000 + index}", account_id="acc_04711", occurred_at=at,
            amount=Decimal(str(round(rng.lognormvariate(3.4, 0.6), 2))), currency="EUR",
            merchant=rng.choice(MERCHANTS), merchant_category="5411", channel="card_present",
            country="DE", source_ip="81.2.69.160", device_id="dev_7f3a",
            similarity_score=round(rng.uniform(0.55, 0.7), 3), model_version="detector-2026.11.2",
            outcome="approve", features=_normal_features(rng), case=past,
            decision="approve", label="legitimate", embedding=unit_vector(1000 + index),
        ))  # fmt: skip
    fraud_start = start + timedelta(days=92)
    for index, (amount, merchant, country, ip) in enumerate([
        ("1.00", "Steam Purchase", "NL", "185.220.101.7"),
        ("1.00", "Steam Purchase", "NL", "185.220.101.7"),
        ("249.99", "Electro World Online", "NL", "185.220.101.7"),
        ("899.00", "Apple.com/bill", "RO", "185.220.101.44"),
        ("1299.00", "Apple.com/bill", "RO", "185.220.101.44"),
        ("450.00", "Crypto Exchange XYZ", "RO", "185.220.101.44"),
        (XSS, None, None, None),
    ]):  # fmt: skip
        if amount == XSS:  # a merchant name from S3 shown as text, here too
            amount, merchant, country, ip = "75.50", XSS, "DE", "81.2.69.160"
        features = {
            "amount_z": round(
                math.log10(float(amount) + 1) * 2.2 - 2.5 + rng.uniform(-0.2, 0.2), 3
            ),
            "hour_sin": round(-0.9 + rng.uniform(-0.05, 0.05), 3),
            "merchant_risk": round(rng.uniform(0.6, 0.95), 3),
            "velocity_1h": 3 + index,
            "distance_km_log": round(rng.uniform(2.9, 3.3), 3),
            "new_device": 1,
        }
        rows.append(Transaction(
            transaction_id=f"tx_{91000 + index}", account_id="acc_04711",
            occurred_at=fraud_start + timedelta(minutes=7 * index), amount=Decimal(amount),
            currency="EUR", merchant=merchant, merchant_category="5732", channel="ecommerce",
            country=country, source_ip=ip, device_id="dev_c0ffee", similarity_score=round(0.86 + index / 60, 3),
            model_version="detector-2026.11.2", outcome="block" if index > 2 else "investigate",
            features=features, case=current, embedding=_near(fraud_pattern, 2000 + index, 0.5),
        ))  # fmt: skip
    # The population: other accounts behaving normally (their cases long closed).
    others = Case.objects.create(account_id="acc_p", queue=queue, status=CaseStatus.CLOSED)
    for index in range(400):
        rows.append(Transaction(
            transaction_id=f"tx_pop_{index}", account_id=f"acc_p{index % 80}",
            occurred_at=start + timedelta(hours=index * 5), amount=Decimal("42.00"), currency="EUR",
            similarity_score=0.6, model_version="detector-2026.11.2", features=_normal_features(rng),
            case=others,
        ))  # fmt: skip
    Transaction.objects.bulk_create(rows)
    rows = []
    # Last month's confirmed fraud on another account, in the same pattern.
    known = Case.objects.create(account_id="acc_02207", queue=queue, status=CaseStatus.CLOSED,
                                resolution="confirmed_fraud")  # fmt: skip
    for index in range(4):
        rows.append(Transaction(
            transaction_id=f"tx_{80000 + index}", account_id="acc_02207",
            occurred_at=start + timedelta(days=60, minutes=9 * index), amount=Decimal("640.00") + index * 100,
            currency="EUR", merchant="Apple.com/bill", country="RO", source_ip="185.220.100.3",
            device_id="dev_51de", similarity_score=0.93, model_version="detector-2026.11.1",
            outcome="block", case=known, decision="block", label="fraud",
            embedding=_near(fraud_pattern, 3000 + index, 0.45),
        ))  # fmt: skip
    Transaction.objects.bulk_create(rows)
    ring = Case.objects.create(account_id="acc_09312", queue=queue)
    Transaction.objects.create(
        transaction_id="tx_93000", account_id="acc_09312", occurred_at=fraud_start, amount=Decimal("999.00"),
        currency="EUR", merchant="Apple.com/bill", country="RO", source_ip="185.220.101.44",
        device_id="dev_c0ffee", similarity_score=0.91, model_version="detector-2026.11.2", outcome="block",
        case=ring, embedding=_near(fraud_pattern, 4000, 0.4),
    )  # fmt: skip
    # What the curation service saw of the fraud's networks: Tor exits on a hosting ASN.
    run = IngestRun.objects.create(
        bucket="inbox", key="curation/seed.jsonl", etag="e", kind="curation"
    )
    for index, (tx_id, ip, metadata) in enumerate(
        [
            (
                "tx_91000",
                "185.220.101.7",
                {
                    "asn": 60729,
                    "isp": "Stiftung Erneuerbare Freiheit",
                    "connection_type": "hosting",
                    "is_vpn": True,
                },
            ),
            (
                "tx_91003",
                "185.220.101.44",
                {
                    "asn": 60729,
                    "isp": "Stiftung Erneuerbare Freiheit",
                    "connection_type": "hosting",
                    "is_tor": True,
                    "is_proxy": True,
                },
            ),
            (
                "tx_91004",
                "185.220.101.44",
                {
                    "asn": 60729,
                    "isp": "Stiftung Erneuerbare Freiheit",
                    "connection_type": "hosting",
                    "is_tor": True,
                    "is_proxy": True,
                },
            ),
            (
                "tx_90037",
                "81.2.69.160",
                {
                    "asn": 20712,
                    "isp": "Andrews & Arnold",
                    "connection_type": "residential",
                    "is_vpn": False,
                    "is_proxy": False,
                    "is_tor": False,
                },
            ),
        ]
    ):
        CurationRecord.objects.create(
            dedupe_key=f"seed-{index}",
            source_ip=ip,
            transaction_id=tx_id,
            account_id="acc_04711",
            metadata=metadata,
            ingest_run=run,
            source_row=index + 1,
        )
    cases_refresh_priority(case_ids=[past.pk, current.pk, ring.pk, others.pk, known.pk])
    cases_refresh_neighbour_verdict(case_ids=[current.pk, ring.pk])
    services.case_assign_to_me(actor=analyst, case_id=current.pk)
    services.case_transition(actor=analyst, case_id=current.pk, to_status="in_review")
    services.case_set_tags(actor=analyst, case_id=current.pk, add=["card-testing", "new-device"])
    services.case_add_note(
        actor=analyst, case_id=current.pk,
        body="Two **1.00 EUR** authorisations on Steam, then high-value electronics from a new "
             "device on Tor exit nodes (185.220.101.x).\n\n- customer called: denies all seven\n"
             "- card blocked at 10:42",
    )  # fmt: skip
    services.case_attach_file(
        actor=analyst, case_id=current.pk, filename="call-notes.txt",
        content=b"Customer denies the transactions.\n", content_type="text/plain",
    )  # fmt: skip
    for tx_id, decision, label in (("tx_91003", "block", "fraud"), ("tx_91004", "block", "fraud")):
        services.transaction_decide(actor=analyst, transaction_id=tx_id, decision=decision)
        services.transaction_label(actor=analyst, transaction_id=tx_id, label=label)
    return Case.objects.get(pk=current.pk)


def test_screenshot_of_a_realistic_case_page(live_server, browser_page, team, settings):
    analyst, _, queue = team
    # The seeded features in words (the shipped dictionary describes the demo's).
    settings.FRAUDCASE_FEATURE_DICTIONARY_PATH = str(
        BASE_DIR / "cases" / "tests" / "feature_dictionary_seed.toml"
    )
    case = seed_realistic_case(analyst, queue)
    page = browser_page
    sign_in_browser(page, live_server, "ana")

    page.goto(case_url(live_server, case))
    expect(page.locator("#case-timeline[data-rendered='45']")).to_be_attached()
    expect(page.locator(".case-transactions tbody tr")).to_have_count(7)
    # Why, in words: the features that stand out, and the nearest confirmed frauds.
    why = page.locator("details.case-why").first
    expect(why.locator(".case-why-sentences li").first).to_contain_text("than this account's usual")
    expect(why.locator(".case-why-frauds li").first).to_contain_text("Confirmed fraud")
    expect(why.locator(".case-why-table")).to_contain_text("merchant risk")
    expect(page.locator("#related")).to_contain_text("FC-")
    expect(page.locator("#similar")).to_contain_text("Apple.com/bill")
    page.wait_for_timeout(300)  # plotly's transitions

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 50_000
    # Usable on a 768 px tablet: nothing wider than the window but the scrolling tables.
    # (The chart redraws itself at the new width a moment after the resize.)
    page.set_viewport_size({"width": 768, "height": 1024})
    page.wait_for_function(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert re.search(r"due in 2 h (3\d|40) min", page.locator(".case-sla").inner_text())
