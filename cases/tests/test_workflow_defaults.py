"""A fresh install's starting workflow (workflow_defaults_ensure) and the default queue.

Found by mutation testing: the General queue could stop being the default queue and no test
noticed, since it also catches every case by its (empty) rules. See docs/testing.md.
"""

import pytest

from cases.models import AuditEvent, Queue, ReasonCode
from cases.tests.workflow_fixtures import make_user
from cases.workflow.services.queues import queue_save
from cases.workflow.services.setup import DEFAULT_REASON_CODES, workflow_defaults_ensure

pytestmark = pytest.mark.django_db


def queues() -> list[tuple]:
    return list(
        Queue.objects.order_by("routing_order").values_list(
            "name", "sla_hours", "routing_order", "outcomes", "is_default"
        )
    )


def test_a_fresh_install_gets_a_default_queue_a_high_risk_queue_and_the_reason_codes():
    admin, analyst = make_user("adm", "admin"), make_user("ana", "analyst")

    made = workflow_defaults_ensure(actor=admin, member_ids=[analyst.pk])

    assert [queue.name for queue in made] == ["High risk", "General"]
    assert queues() == [
        ("High risk", 4, 10, ["block"], False),
        ("General", 24, 100, [], True),
    ]
    assert all(list(q.members.values_list("username", flat=True)) == ["ana"] for q in made)
    assert sorted(ReasonCode.objects.values_list("code", "resolution", "active")) == sorted(
        (code, resolution, True) for code, _, resolution in DEFAULT_REASON_CODES
    )


def test_ensuring_the_defaults_again_changes_nothing():
    admin = make_user("adm", "admin")
    workflow_defaults_ensure(actor=admin)
    Queue.objects.filter(name="General").update(sla_hours=12)  # a lead's change since
    events = AuditEvent.objects.count()

    again = workflow_defaults_ensure(actor=admin)

    assert [queue.name for queue in again] == ["High risk", "General"]
    assert queues()[1] == ("General", 12, 100, [], True)
    assert ReasonCode.objects.count() == len(DEFAULT_REASON_CODES)
    assert AuditEvent.objects.count() == events


def test_making_another_queue_the_default_takes_the_flag_from_the_old_one():
    lead = make_user("lea", "lead")
    workflow_defaults_ensure(actor=make_user("adm", "admin"))

    queue_save(actor=lead, name="Catch-all", sla_hours=48, routing_order=200, is_default=True)

    assert list(Queue.objects.filter(is_default=True).values_list("name", flat=True)) == [
        "Catch-all"
    ]
