"""The case report (PDF): why it was flagged, where the IPs are, the ring, the attachments;
no refusals in its history; ids, addresses and hashes never broken across lines."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.test import override_settings

from cases.casefile.selectors import case_page
from cases.errors import CaseError
from cases.ips.services import rings_compute
from cases.models import Case
from cases.tests import test_case_page as case_page_tests
from cases.tests.workflow_fixtures import make_case
from cases.workflow import services
from conftest import client_for

pytestmark = pytest.mark.django_db

team = case_page_tests.team  # the case page tests' users and queue, as a fixture here
add_transaction, url, _pdf_text = (
    case_page_tests.add_transaction, case_page_tests.url, case_page_tests._pdf_text,
)  # fmt: skip

STOCKHOLM = "89.160.20.128"  # GeoLite2 2018: Stockholm, SE
LONG_IP = "2001:db8:85a3:1234:5678:8a2e:370:7334"  # documentation range: never placed
LONG_TX = "tx_2026-11-02_checkout_7f3a9c21d4e84b1c9e0f5a6b7c8d9e0f1a2b3c4d"
LONG_DEVICE = "device-fingerprint-4b9e2f7d1c6a8e3f0b5d7c9a1e3f5b7d"


@pytest.fixture
def reported(team, bucket, settings):
    """A case with a long-id transaction from Stockholm with features, one on a long IPv6
    address, a neighbour verdict, an attachment, a note, a refusal, and a ring partner."""
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    analyst = team["analyst"]
    case = make_case(team["queue"], transactions=0, account_id="acc-report")
    add_transaction(
        case, LONG_TX, amount=Decimal("980.00"), source_ip=STOCKHOLM, device_id=LONG_DEVICE,
        similarity_score=0.93, features={"log_amount": 6.9, "hour_sin": -0.5},
    )  # fmt: skip
    add_transaction(case, "tx_short", minutes=5, source_ip=LONG_IP, similarity_score=0.61)
    partner = make_case(team["queue"], transactions=0, account_id="acc-partner")
    add_transaction(partner, "tx_partner", device_id=LONG_DEVICE, label="fraud")
    Case.objects.filter(pk=case.pk).update(
        neighbour_summary={"k": 10, "labelled": 10, "fraud": 4, "top_similarity": 0.9,
                           "fraud_share": 0.41, "fraud_score": 0.37},
    )  # fmt: skip
    services.case_add_note(actor=analyst, case_id=case.pk, body="Called the customer.")
    services.case_attach_file(
        actor=analyst, case_id=case.pk, filename="bank-statement.txt", content=b"statement"
    )
    with pytest.raises(CaseError):  # someone outside the queue tries: a refusal in the trail
        services.case_add_note(actor=team["outsider"], case_id=case.pk, body="let me in")
    with override_settings(FRAUDCASE_LINK_HUB_DEGREE=25, FRAUDCASE_RING_MAX_SIZE=50):
        rings_compute()
    return case


def report_text(team, case) -> str:
    response = client_for(team["auditor"]).get(url("case-report-pdf", case))
    assert response.status_code == 200
    return _pdf_text(response.content)


def test_the_report_says_why_the_case_was_flagged(team, reported):
    text = report_text(team, reported)

    assert "Why this was flagged" in text
    assert "Nearest labelled neighbours: 4 of 10 nearest labelled neighbours were fraud" in text
    assert "(log_amount)" in text and "(6.900)" in text and "(hour_sin)" in text
    assert "(no features sent)" in text  # tx_short came without features


def test_the_report_places_the_ips_and_names_the_ring(team, reported):
    text = report_text(team, reported)

    assert "Source IPs and their places \\(2\\)" in text  # parentheses escaped in the PDF
    assert "(Stockholm, Sweden)" in text
    assert "(Documentation range)" in text and "(not placed)" in text
    assert "The account is in ring #1 on the rings page: 2 accounts, 1 with confirmed" in text
    assert LONG_DEVICE in text


def test_the_report_lists_the_attachments(team, reported):
    text = report_text(team, reported)

    assert "Attachments \\(1\\)" in text
    assert "(bank-statement.txt)" in text
    assert f"({hashlib.sha256(b'statement').hexdigest()})" in text  # whole, on one line


def test_the_history_leaves_refusals_out(team, reported):
    history = case_page(reported, viewer=team["auditor"], with_similar=False).history
    assert [event.actor_name for event in history if event.is_refusal] == ["olga"]

    text = report_text(team, reported)

    assert "Note added" in text and "Attachment added" in text
    assert "Permission denied" not in text and "olga" not in text


def test_ids_are_never_broken_across_lines(team, reported):
    text = report_text(team, reported)

    # Each value is shown by one text operator: "(value) Tj", never split in two.
    for value in (LONG_TX, LONG_DEVICE, LONG_IP):
        assert f"({value})" in text, value
