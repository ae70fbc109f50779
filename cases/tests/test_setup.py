import pytest

from cases.models import Queue, ReasonCode
from cases.tests.workflow_fixtures import make_case, make_user
from cases.workflow import services
from cases.workflow.services.setup import DEFAULT_REASON_CODES, workflow_defaults_ensure

pytestmark = pytest.mark.django_db


def test_defaults_are_created_once_and_route_cases():
    admin, analyst = make_user("adm", "admin"), make_user("ana", "analyst")

    workflow_defaults_ensure(actor=admin, member_ids=[analyst.pk])
    workflow_defaults_ensure(actor=admin, member_ids=[analyst.pk])

    assert ReasonCode.objects.count() == len(DEFAULT_REASON_CODES)
    assert list(Queue.objects.values_list("name", "sla_hours", "is_default")) == [
        ("High risk", 4, False), ("General", 24, True),
    ]  # fmt: skip
    assert all(list(q.members.all()) == [analyst] for q in Queue.objects.all())
    blocked, approved = make_case(None), make_case(None)
    blocked.__class__.objects.filter(pk=blocked.pk).update(worst_outcome="block")
    approved.__class__.objects.filter(pk=approved.pk).update(worst_outcome="approve")
    services.cases_route_new(actor=admin, case_ids=[blocked.pk, approved.pk])
    blocked.refresh_from_db()
    approved.refresh_from_db()
    assert (blocked.queue.name, approved.queue.name) == ("High risk", "General")
