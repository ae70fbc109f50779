"""The read policy (cases/policies.py), reads in the audit trail, and taking over a case."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.errors import ActionNotPermitted, InvalidInput
from cases.models import AuditAction, AuditEvent, Case
from cases.policies import can_view_case, visible_cases
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    analyst = make_user("ana", "analyst")
    colleague = make_user("bob", "analyst")
    lead = make_user("lea", "lead")
    auditor = make_user("audrey", "auditor")
    general = make_queue("General", analyst, colleague, is_default=True)
    high_risk = make_queue("High risk", colleague)
    make_reason_codes()
    return {
        "analyst": analyst, "colleague": colleague, "lead": lead, "auditor": auditor,
        "general": general, "high_risk": high_risk,
    }  # fmt: skip


def test_an_analyst_reads_her_queues_her_assignments_and_what_she_worked_before(team):
    analyst = team["analyst"]
    in_my_queue = make_case(team["general"])
    elsewhere = make_case(team["high_risk"])
    assigned_elsewhere = make_case(team["high_risk"])
    Case.objects.filter(pk=assigned_elsewhere.pk).update(assignee=analyst)
    worked = make_case(team["general"])
    services.case_add_note(actor=analyst, case_id=worked.pk, body="seen this account before")
    Case.objects.filter(pk=worked.pk).update(queue=team["high_risk"])  # moved by a lead later
    decided = make_case(team["general"])
    services.transaction_decide(
        actor=analyst, transaction_id=decided.transactions.first().transaction_id, decision="block"
    )
    Case.objects.filter(pk=decided.pk).update(queue=team["high_risk"])
    no_queue = Case.objects.create(account_id="acc-unrouted")

    readable = set(visible_cases(analyst).values_list("pk", flat=True))

    assert readable == {in_my_queue.pk, assigned_elsewhere.pk, worked.pk, decided.pk}
    assert not can_view_case(analyst, Case.objects.get(pk=elsewhere.pk))
    assert not can_view_case(analyst, no_queue)
    everything = set(Case.objects.values_list("pk", flat=True))
    for reader in ("lead", "auditor"):
        assert set(visible_cases(team[reader]).values_list("pk", flat=True)) == everything
    assert not visible_cases(make_user("nobody")).exists()


def test_a_case_worked_before_stays_readable_but_not_workable(team):
    analyst = team["analyst"]
    case = make_case(team["general"])
    services.case_add_note(actor=analyst, case_id=case.pk, body="first look")
    Case.objects.filter(pk=case.pk).update(queue=team["high_risk"])
    client = client_for(analyst)

    page = client.get(reverse("case-detail", args=[case.reference]))
    refused = client.post(reverse("case-add-note", args=[case.reference]), {"body": "again"})

    assert page.status_code == 200
    assert refused.status_code == 403 and "not one of your queues" in refused.content.decode()


def test_viewing_exporting_and_downloading_are_each_one_audit_event(team):
    analyst = team["analyst"]
    case = make_case(team["general"], transactions=3)
    services.case_attach_file(
        actor=analyst, case_id=case.pk, filename="id.txt", content=b"passport", content_type="text/plain",
    )  # fmt: skip
    attachment = case.attachments.get()
    client = client_for(analyst)

    client.get(reverse("case-detail", args=[case.reference]))
    client.get(reverse("case-export-csv", args=[case.reference]))
    client.get(reverse("case-report-pdf", args=[case.reference]))
    download = client.get(reverse("case-attachment-download", args=[case.reference, attachment.pk]))
    assert b"".join(download.streaming_content) == b"passport"

    reads = AuditEvent.objects.filter(
        action__in=[AuditAction.CASE_VIEWED, AuditAction.CASE_EXPORTED, AuditAction.ATTACHMENT_DOWNLOADED]
    ).order_by("id")  # fmt: skip
    assert [(e.action, e.actor, e.object_id) for e in reads] == [
        (AuditAction.CASE_VIEWED, analyst, str(case.pk)),
        (AuditAction.CASE_EXPORTED, analyst, str(case.pk)),
        (AuditAction.CASE_EXPORTED, analyst, str(case.pk)),
        (AuditAction.ATTACHMENT_DOWNLOADED, analyst, str(case.pk)),
    ]
    assert [e.after for e in reads[1:3]] == [
        {"format": "csv", "transactions": 3}, {"format": "pdf", "transactions": 3},
    ]  # fmt: skip
    assert reads[3].after["attachment_id"] == attachment.pk
    # The case's own history tells its story, not who looked at it.
    page = client.get(reverse("case-detail", args=[case.reference])).content.decode()
    assert "Case viewed" not in page


def test_only_a_lead_takes_over_a_held_case_and_must_say_why(team):
    analyst, colleague, lead = team["analyst"], team["colleague"], team["lead"]
    case = make_case(team["general"])
    services.case_assign_to_me(actor=colleague, case_id=case.pk)

    with pytest.raises(ActionNotPermitted, match="taking over a colleague's case is a lead's"):
        services.case_assign_to_me(actor=analyst, case_id=case.pk)
    with pytest.raises(InvalidInput, match="give a reason for taking"):
        services.case_assign_to_me(actor=lead, case_id=case.pk, reason="  ")
    services.case_assign_to_me(actor=lead, case_id=case.pk, reason="bob is on leave")

    case.refresh_from_db()
    assert case.assignee == lead
    taken = AuditEvent.objects.get(action=AuditAction.CASE_TAKEN_OVER)
    assert (taken.actor, taken.before, taken.after["assignee"], taken.after["reason"]) == (
        lead, {"assignee": "bob"}, "lea", "bob is on leave",
    )  # fmt: skip
    denied = AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED)
    assert denied.actor == analyst


def test_the_case_page_offers_a_take_over_to_leads_only(team):
    case = make_case(team["general"])
    services.case_assign_to_me(actor=team["colleague"], case_id=case.pk)

    analyst_page = client_for(team["analyst"]).get(reverse("case-detail", args=[case.reference]))
    lead = client_for(team["lead"])
    lead_page = lead.get(reverse("case-detail", args=[case.reference]))
    taken = lead.post(
        reverse("case-assign-to-me", args=[case.reference]),
        {"reason": "escalation", "expected_version": Case.objects.get(pk=case.pk).version},
    )

    assert "/assign/me/" not in analyst_page.content.decode()
    assert "Take over" in lead_page.content.decode()
    assert taken.status_code == 302
    assert Case.objects.get(pk=case.pk).assignee == team["lead"]


def test_bulk_take_for_me_refuses_an_analyst_case_by_case_and_takes_over_for_a_lead(team, client):
    held = make_case(team["general"])
    free = make_case(team["general"])
    services.case_assign_to_me(actor=team["colleague"], case_id=held.pk)

    outcome = services.cases_bulk_assign_to_me(actor=team["analyst"], case_ids=[held.pk, free.pk])
    assert [c.pk for c in outcome.changed] == [free.pk]
    assert "taking over a colleague's case is a lead's action" in outcome.refusals[0]

    outcome = services.cases_bulk_assign_to_me(
        actor=team["lead"], case_ids=[held.pk], reason="rebalancing"
    )
    assert [c.pk for c in outcome.changed] == [held.pk]
    assert Case.objects.get(pk=held.pk).assignee == team["lead"]
