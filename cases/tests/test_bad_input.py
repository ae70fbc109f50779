"""Bad dates and ranges everywhere people type them, and permission before validation: a clear
400 or form error (never a 500, never 0 results without a word), and a 403 for whoever may not
act, whatever else the request got wrong."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from cases.dateranges import check_order, parse_day, parse_moment
from cases.errors import InvalidInput
from cases.models import AuditAction, AuditEvent, Case, LabelStatus, LabelVersion
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow.services import transaction_label
from conftest import client_for

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def alert(response) -> str:
    """The problem page's message."""
    return re.search(r'<p class="error" role="alert">(.*?)</p>', text_of(response))[1]


# --- the shared parser -------------------------------------------------------------------------


def test_days_and_moments_are_parsed_inside_a_window_or_refused_clearly():
    assert parse_day(" 2026-03-01 ", name="From") == date(2026, 3, 1)
    assert parse_day("", name="From") is None
    assert parse_moment("2026-03-01T10:30", name="From") == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert parse_moment("2026-03-01", name="From") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_moment("2026-03-01T10:30+02:00", name="From").utcoffset().total_seconds() == 7200
    refusals = [
        (lambda: parse_day("0001-01-01", name="From"),
         "From 0001-01-01 is out of range: give a date between 2000-01-01 and 2100-12-31"),
        (lambda: parse_day("9999-12-31", name="To"), "To 9999-12-31 is out of range"),
        (lambda: parse_day("2026-02-30", name="To"), "To must be a date as YYYY-MM-DD, not '2026-02-30'"),
        (lambda: parse_day("yesterday", name="To"), "To must be a date as YYYY-MM-DD"),
        (lambda: parse_moment("9999-12-31T23:59", name="--since"), "--since 9999-12-31 is out of range"),
        (lambda: parse_moment("0001-01-01T00:00+14:00", name="From"), "From 0001-01-01 is out of range"),
        (lambda: parse_moment("soon", name="Until"), "Until must be YYYY-MM-DD, YYYY-MM-DDTHH:MM"),
        (lambda: check_order(date(2026, 3, 5), date(2026, 3, 1), start_name="from", end_name="to"),
         "from (2026-03-05) is after to (2026-03-01): the range is reversed"),
    ]  # fmt: skip
    for call, message in refusals:
        with pytest.raises(InvalidInput) as refused:
            call()
        assert message in refused.value.message
    check_order(date(2026, 3, 1), date(2026, 3, 1), start_name="from", end_name="to")  # one day


# --- the IP map --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=0001-01-01&until=9999-12-31", "From 0001-01-01 is out of range"),
        ("since=2026-11-30&until=2026-11-01",
         "To: From (2026-11-30) is after To (2026-11-01): the range is reversed"),
        ("since=2024-01-01&until=2026-11-30", "the map covers at most 366 days"),
    ],
    ids=["end-of-calendar", "reversed", "too-long"],
)  # fmt: skip
def test_the_ip_map_refuses_a_bad_range_with_400_and_says_why(query, message):
    client = client_for(make_user("ana", "analyst"))

    response = client.get(f"/analytics/ip-map/?{query}")

    assert response.status_code == 400
    refused = re.search(r'id="ip-map-refused">(.*?)</p>', text_of(response), re.S)[1]
    assert refused.startswith("These filters were refused, so the map shows the last 30 days")
    assert message in refused


# --- the audit trail and its export ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "0001-01-01"}, "From 0001-01-01 is out of range"),
        ({"until": "9999-12-31"}, "To (inclusive) 9999-12-31 is out of range"),
        ({"since": "2026-03-05", "until": "2026-03-01"},
         "From (2026-03-05) is after To (inclusive) (2026-03-01): the range is reversed"),
    ],
    ids=["start-of-calendar", "end-of-calendar", "reversed"],
)  # fmt: skip
def test_the_audit_trail_refuses_a_bad_range_with_400(query, message):
    client = client_for(make_user("audrey", "auditor"))

    response = client.get(reverse("audit-trail"), query)

    assert response.status_code == 400
    assert message in text_of(response)
    assert "No events match these filters" not in text_of(response)


def test_the_audit_export_refuses_a_start_before_the_window():
    client = client_for(make_user("audrey", "auditor"))

    response = client.get(reverse("audit-export"), {"start": "0001-01-01", "end": "2026-03-01"})

    assert response.status_code == 400
    assert alert(response).startswith("start 0001-01-01 is out of range")
    assert 'href="/audit/"' in text_of(response) and "Back to the audit trail" in text_of(response)


def test_the_audit_export_says_403_before_anything_about_the_range():
    client = client_for(make_user("ana", "analyst"))

    response = client.get(reverse("audit-export"))  # no range at all

    assert response.status_code == 403
    assert alert(response).startswith("ana may not export the audit trail")
    assert "Back to the queue" in text_of(response) and "audit trail</a>" not in text_of(response)
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == 1


# --- the triage queue --------------------------------------------------------------------------


@pytest.fixture
def opened_case():
    lead = make_user("lea", "lead")
    case = make_case(make_queue("General", lead, is_default=True))
    Case.objects.filter(pk=case.pk).update(opened_at=datetime(2026, 3, 2, 12, tzinfo=UTC))
    return lead, case


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("opened_from=2026-03-05&opened_to=2026-03-01",
         "opened_to: Opened from (2026-03-05) is after Opened to (2026-03-01): the range is reversed (ignored)"),
        ("opened_from=0001-01-01&opened_to=2026-03-01",
         "opened_from: Opened from 0001-01-01 is out of range: give a date between 2000-01-01 and "
         "2100-12-31 (ignored)"),
    ],
    ids=["reversed", "start-of-calendar"],
)  # fmt: skip
def test_the_queue_says_a_bad_opened_range_is_ignored_instead_of_listing_nothing(
    opened_case, query, message
):
    lead, case = opened_case

    response = client_for(lead).get(f"/?tab=all&{query}")

    assert response.status_code == 200
    assert message in text_of(response)
    assert re.findall(r'data-case-id="(\d+)"', text_of(response)) == [str(case.pk)]


def test_an_auditor_gets_403_for_a_bulk_action_whatever_the_form_says():
    client = client_for(make_user("aud", "auditor"))
    case = make_case(make_queue("General", is_default=True))

    response = client.post(
        reverse("case-bulk"), {"action": "close_false_positive", "case_ids": [case.pk]}
    )

    assert response.status_code == 403
    assert alert(response).startswith("aud may not work cases")
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == 1
    case.refresh_from_db()
    assert case.status == "open"


# --- labels: quarantine ranges, permission first, the way back ---------------------------------


@pytest.fixture
def labelled():
    analyst = make_user("ana", "analyst")
    lead = make_user("lea", "lead")
    case = make_case(make_queue("General", analyst, lead, is_default=True), status="in_review")
    tx = case.transactions.order_by("id").first()
    transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="fraud")
    return analyst, lead


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("0001-01-01T00:00", "2100-01-01T00:00",
         "From 0001-01-01 is out of range: give a date between 2000-01-01 and 2100-12-31"),
        ("2100-01-01T00:00", "2000-01-01T00:00",
         "From (2100-01-01 00:00) is after Until (2000-01-01 00:00): the range is reversed"),
    ],
    ids=["start-of-calendar", "reversed"],
)  # fmt: skip
def test_a_quarantine_range_out_of_the_window_or_reversed_is_refused(labelled, start, end, message):
    analyst, lead = labelled
    form = {"analyst": analyst.username, "start": start, "end": end, "reason": "Phished"}

    response = client_for(lead).post(reverse("labels-quarantine"), form, follow=True)

    assert [str(m) for m in response.context["messages"]] == [message]
    assert not LabelVersion.objects.filter(status=LabelStatus.QUARANTINED).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.LABEL_QUARANTINED).exists()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("labels-quarantine", {}),
        ("labels-release", {"batch_id": "", "reason": ""}),
        ("held-label-review", {"decision": ""}),
    ],
)
def test_an_analyst_gets_403_from_the_labels_actions_before_any_validation(labelled, name, data):
    analyst, _ = labelled
    version = LabelVersion.objects.get()
    path = reverse(name, args=[version.pk] if name == "held-label-review" else [])

    response = client_for(analyst).post(path, data)

    assert response.status_code == 403
    assert alert(response).startswith("ana may not manage held labels")
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == 1


def test_the_labels_403_page_leads_back_to_the_queue_not_the_audit_trail(labelled):
    analyst, _ = labelled

    response = client_for(analyst).get(reverse("held-labels"))

    assert response.status_code == 403
    back = re.search(r'<a href="([^"]*)" class="problem-back">([^<]*)</a>', text_of(response))
    assert back.groups() == ("/", "Back to the queue")
    assert "audit trail" not in text_of(response)


# --- the training set export's --since -----------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("0001-01-01", "--since 0001-01-01 is out of range"),
        ("9999-12-31T00:00", "--since 9999-12-31 is out of range"),
        ("last week", "--since must be YYYY-MM-DD, YYYY-MM-DDTHH:MM or an ISO 8601 timestamp"),
    ],
)
def test_export_training_set_refuses_a_since_outside_the_window(since, message):
    with pytest.raises(CommandError) as refused:
        call_command("export_training_set", since=since, no_progress=True)

    assert message in str(refused.value)
