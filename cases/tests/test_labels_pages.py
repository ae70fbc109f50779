"""The leads' labels page (held labels, backlog, quarantine) and the admin's backlog summary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from cases.models import AuditAction, AuditEvent, CaseStatus, LabelVersion, Queue
from cases.tests.label_fixtures import make_held_flip
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_flip(settings, bucket):
    """An analyst's flip of an exported label, held for a lead."""
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    return make_held_flip()


def test_a_lead_sees_held_labels_and_the_backlog_and_approves_one(held_flip):
    analyst, lead, tx, held = held_flip
    client = client_for(lead)

    page = client.get(reverse("held-labels"))

    text = page.content.decode()
    assert page.status_code == 200
    assert f'id="held-{held.pk}"' in text and tx.transaction_id in text
    assert "Flips an exported label (four-eyes)" in text
    assert "<strong>0</strong> labels waiting for export" in text
    assert "<strong>1</strong> held for review" in text
    answer = client.post(
        reverse("held-label-review", args=[held.pk]), {"decision": "approve", "note": "ok"}
    )
    assert answer.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.reviewed_by) == ("pending", lead)
    assert AuditEvent.objects.filter(action=AuditAction.LABEL_RELEASED).count() == 1


def test_an_analyst_may_not_open_the_page_or_review(held_flip):
    analyst, lead, tx, held = held_flip
    client = client_for(analyst)

    assert client.get(reverse("held-labels")).status_code == 403
    answer = client.post(reverse("held-label-review", args=[held.pk]), {"decision": "approve"})

    assert answer.status_code == 403
    assert LabelVersion.objects.get(pk=held.pk).status == "held"


def test_a_lead_quarantines_and_releases_an_analysts_labels_through_the_page(held_flip):
    analyst, lead, tx, held = held_flip
    client = client_for(lead)
    start = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    form = {"analyst": analyst.username, "start": start, "end": end, "reason": "Phished account"}

    client.post(reverse("labels-quarantine"), form)

    assert set(LabelVersion.objects.values_list("status", flat=True)) == {"quarantined"}
    assert AuditEvent.objects.filter(action=AuditAction.LABEL_QUARANTINED).count() == 2
    page = client.get(reverse("held-labels")).content.decode()
    assert "2 label version(s) quarantined." in page
    client.post(reverse("labels-release"), form)
    assert AuditEvent.objects.filter(action=AuditAction.LABEL_QUARANTINE_RELEASED).count() == 2


def test_the_admin_shows_the_export_backlog(held_flip):
    analyst, lead, tx, held = held_flip
    admin_user = get_user_model().objects.create_superuser("root", password="x-long-password-1")
    client = client_for(admin_user)
    queue = Queue.objects.get(name="General")
    other_tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    services.transaction_label(actor=analyst, transaction_id=other_tx.transaction_id, label="fraud")

    page = client.get(reverse("admin:cases_labelversion_changelist"))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Retraining export backlog: <strong>1</strong> label waiting" in text
    assert "1 held for a lead" in text
    for name in ("admin:cases_labelexportbatch_changelist", "admin:cases_labeloutbox_changelist"):
        assert "Retraining export backlog" in client.get(reverse(name)).content.decode()


def test_the_case_page_says_when_a_label_is_held(held_flip):
    analyst, lead, tx, held = held_flip
    client = client_for(analyst)
    url = reverse("case-transaction-verdict", args=[tx.case.reference])

    answer = client.post(
        url, {"transaction_id": tx.transaction_id, "label": "legitimate"}, HTTP_HX_REQUEST="true"
    )

    assert answer.status_code == 200
    assert (
        "Label legitimate held for a lead&#x27;s review: flips an exported label (four-eyes)."
        in answer.content.decode()
    )
