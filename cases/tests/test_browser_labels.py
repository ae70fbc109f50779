"""The leads' labels page in a real browser: a held flip approved by a second lead."""

import pytest
from playwright.sync_api import expect

from cases.models import AuditAction, AuditEvent
from cases.tests.label_fixtures import make_held_flip
from conftest import sign_in_lead_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_lead_approves_a_held_flip_on_the_labels_page(
    live_server, browser_page, settings, bucket
):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    _, lead, tx, held = make_held_flip()
    page = browser_page
    sign_in_lead_browser(page, live_server, lead)

    page.get_by_role("link", name="Labels").click()
    expect(page.get_by_role("heading", name="Labels for retraining")).to_be_visible()
    row = page.locator(f"#held-{held.pk}")
    expect(row).to_contain_text("Flips an exported label (four-eyes)")
    row.get_by_label("Note").fill("Customer sent the receipt")
    row.get_by_role("button", name=f"Approve {tx.transaction_id}").click()

    expect(
        page.get_by_text(f"{tx.transaction_id}: label legitimate approved: it goes to retraining.")
    ).to_be_visible()
    expect(page.locator(f"#held-{held.pk}")).to_have_count(0)
    expect(page.get_by_text("No label is held.")).to_be_visible()
    held.refresh_from_db()
    assert (held.status, held.reviewed_by, held.review_note) == (
        "pending", lead, "Customer sent the receipt",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action=AuditAction.LABEL_RELEASED, actor=lead).count() == 1
