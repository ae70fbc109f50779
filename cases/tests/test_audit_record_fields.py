"""What audit_record takes from the object and the actor (mutants of cases/audit/trail.py that
test_audit.py let live; see docs/testing.md)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from cases.audit.trail import (
    SYSTEM_USERNAME,
    audit_record,
    current_actor,
    reset_request_user,
    set_request_user,
)
from cases.errors import ActionNotPermitted
from cases.models import AuditAction, AuditEvent
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db


def test_the_object_names_the_event_unless_told_otherwise():
    case = make_case(make_queue("General"), transactions=0)
    queue = case.queue

    by_object = audit_record(actor=None, action=AuditAction.CASE_VIEWED, obj=case)
    without_reference = audit_record(actor=None, action=AuditAction.QUEUE_CHANGED, obj=queue)
    told = audit_record(
        actor=None, action=AuditAction.CASE_VIEWED, obj=case, object_id="x1", object_repr="told"
    )

    stored = {event.pk: event for event in AuditEvent.objects.all()}
    assert [
        (stored[e.pk].object_type, stored[e.pk].object_id, stored[e.pk].object_repr)
        for e in (by_object, without_reference, told)
    ] == [
        ("cases.case", str(case.pk), case.reference),
        ("cases.queue", str(queue.pk), str(queue)),
        ("cases.case", "x1", "told"),
    ]


@pytest.mark.parametrize("actor", [None, AnonymousUser()], ids=["none", "anonymous user"])
def test_a_refusal_without_a_signed_in_actor_is_recorded_as_anonymous(actor):
    with pytest.raises(ActionNotPermitted):
        services.case_claim_next(actor=actor)

    [refusal] = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED)
    assert (refusal.actor_id, refusal.actor_name) == (None, "anonymous")
    assert refusal.after["attempted"] == "case_claim_next"


def test_the_actor_of_a_change_is_the_requests_user_else_the_system():
    analyst = make_user("ana", "analyst")
    assert current_actor().get_username() == SYSTEM_USERNAME  # no request: a task or command

    for user, expected in ((analyst, analyst), (AnonymousUser(), None), (None, None)):
        token = set_request_user(lambda user=user: user)
        try:
            assert current_actor() == expected
        finally:
            reset_request_user(token)
