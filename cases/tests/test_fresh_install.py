"""A fresh install without the demo: `manage.py setup`, leads' queue and reason-code pages, and
cases opened before any queue (unrouted, visible to leads, routed when a queue appears)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from cases.audit.trail import system_actor
from cases.models import AuditAction, AuditEvent, Case, Queue, ReasonCode
from cases.queue.selectors import QueueFilters, case_queue, queue_tabs
from cases.tests.workflow_fixtures import make_case, make_user
from cases.workflow.services.setup import DEFAULT_REASON_CODES
from conftest import client_for

pytestmark = pytest.mark.django_db


def test_setup_creates_roles_queues_and_reasons_once_and_routes_waiting_cases(capsys):
    waiting = make_case(None, transactions=1)  # opened before any queue existed
    analyst = make_user("ana", "analyst")

    call_command("setup", "--member", "ana")
    call_command("setup")

    assert {"analyst", "lead", "auditor", "admin"} <= set(
        Group.objects.values_list("name", flat=True)
    )
    assert list(Queue.objects.values_list("name", "sla_hours", "is_default")) == [
        ("High risk", 4, False), ("General", 24, True),
    ]  # fmt: skip
    assert ReasonCode.objects.count() == len(DEFAULT_REASON_CODES)
    assert list(Queue.objects.get(name="General").members.all()) == [analyst]
    waiting.refresh_from_db()
    assert waiting.queue.name == "General"
    routed = AuditEvent.objects.get(action=AuditAction.CASE_ROUTED, object_id=str(waiting.pk))
    assert routed.actor_id == system_actor().pk
    assert routed.after["trigger"] == "queue rules changed"
    assert AuditEvent.objects.filter(action=AuditAction.QUEUE_CHANGED).count() == 2
    assert "0 open case(s) unrouted" in capsys.readouterr().out


def test_leads_see_unrouted_cases_on_a_tab_of_their_own_analysts_do_not():
    lead, analyst = make_user("lea", "lead"), make_user("ana", "analyst")
    waiting = make_case(None, transactions=1)

    assert "unrouted" in [tab.key for tab in queue_tabs(user=lead)]
    assert "unrouted" not in [tab.key for tab in queue_tabs(user=analyst)]
    page = case_queue(user=lead, tab="unrouted", filters=QueueFilters(), sort="", page=1)
    assert [case.pk for case in page.page] == [waiting.pk]
    body = client_for(lead).get(f"/cases/{waiting.reference}/").content.decode()
    assert "Unrouted" in body


def test_a_lead_creates_the_first_queue_on_its_page_and_the_waiting_cases_are_routed():
    lead = make_user("lea", "lead")
    analyst = make_user("ana", "analyst")
    waiting = [make_case(None, transactions=1), make_case(None, transactions=1)]
    client = client_for(lead)

    listing = client.get("/manage/queues/").content.decode()
    assert "2 unrouted open cases" in listing
    saved = client.post(
        "/manage/queues/new/",
        {"name": "General", "sla_hours": 24, "routing_order": 100, "is_default": "on",
         "round_robin": "on", "members": [analyst.pk], "countries": "de, fr"},
        follow=True,
    )  # fmt: skip

    body = saved.content.decode()
    assert "Saved General. 2 open unassigned cases re-routed." in body
    queue = Queue.objects.get(name="General")
    assert (queue.is_default, queue.round_robin, queue.countries) == (True, True, ["DE", "FR"])
    assert list(queue.members.all()) == [analyst]
    assert {Case.objects.get(pk=c.pk).queue_id for c in waiting} == {queue.pk}
    # Round robin: the waiting cases went to the queue's member in turn.
    assert {Case.objects.get(pk=c.pk).assignee_id for c in waiting} == {analyst.pk}
    assert "unrouted" not in client.get("/manage/queues/").content.decode()

    edited = client.post(
        f"/manage/queues/{queue.pk}/",
        {"name": "General", "sla_hours": 12, "routing_order": 100, "is_default": "on",
         "members": [analyst.pk]},
        follow=True,
    )  # fmt: skip
    assert "Saved General." in edited.content.decode()
    assert Queue.objects.get(pk=queue.pk).sla_hours == 12


def test_bad_rules_are_refused_on_the_page_and_nothing_is_saved():
    lead = make_user("lea", "lead")

    refused = client_for(lead).post(
        "/manage/queues/new/",
        {"name": "X", "sla_hours": 4, "routing_order": 1, "countries": "Germany"},
    )

    assert refused.status_code == 200
    assert "not ISO 3166 alpha-2 codes: GERMANY" in refused.content.decode()
    assert not Queue.objects.exists()


def test_reason_codes_are_added_and_retired_by_a_lead_and_refused_to_an_analyst():
    lead, analyst = make_user("lea", "lead"), make_user("ana", "analyst")
    client = client_for(lead)

    client.post(
        "/manage/reason-codes/",
        {
            "code": "chargeback",
            "label": "Chargeback",
            "resolution": "confirmed_fraud",
            "active": "on",
        },
    )
    client.post(
        "/manage/reason-codes/",
        {"code": "chargeback", "label": "Chargeback filed", "resolution": "confirmed_fraud"},
    )

    reason = ReasonCode.objects.get(code="chargeback")
    assert (reason.label, reason.active) == ("Chargeback filed", False)
    assert "Chargeback filed" in client.get("/manage/reason-codes/").content.decode()
    denied = client_for(analyst).post("/manage/reason-codes/", {"code": "x", "label": "X"})
    assert denied.status_code == 403
    assert not ReasonCode.objects.filter(code="x").exists()
