"""The table behind test_service_audit_events.py: what each writing service must record.

A Row names the service function, who calls it, how (call), what was there before (setup), and
the exact events it must append (expect). Expectations are spelled from the test's own view of
the world (the objects it made, the result it got), never read back from the trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder

from cases.audit.trail import system_actor
from cases.models import Case, CaseStatus
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user

World = SimpleNamespace


@dataclass(frozen=True)
class Event:
    """One expected event. obj: a model instance, or (object_type, object_id)."""

    action: str
    obj: Any
    before: dict | None = None
    after: dict | None = None
    actor: str | None = None  # a World attribute; None: the row's actor

    def spelled(self, world: World, row_actor: str) -> dict:
        if isinstance(self.obj, tuple):
            object_type, object_id = self.obj
        else:
            object_type, object_id = self.obj._meta.label_lower, self.obj.pk
        actor = getattr(world, self.actor or row_actor)
        return {
            "action": str(self.action),
            "object_type": object_type,
            "object_id": str(object_id),
            "actor": actor.pk if actor is not None else None,
            "before": as_stored(self.before),
            "after": as_stored(self.after),
        }


def as_stored(value):
    """The value as the JSON column gives it back (datetimes as ISO text, and so on)."""
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder))


@dataclass(frozen=True)
class Row:
    """One call of one service and the events it must write, exactly and only those."""

    function: Callable
    actor: str  # a World attribute
    call: Callable[[World, Any], Any]  # (world, actor) -> result
    expect: Callable[[World, Any], list[Event]]  # (world, result) -> events, in order
    setup: Callable[[World], None] | None = None
    # True: the database must change besides the trail; False: only the trail (a read
    # recorded); None: not checked (bookkeeping such as a device's last code moves).
    changes: bool | None = True
    id: str = field(default="")

    @property
    def name(self) -> str:
        return self.id or self.function.__name__


def make_world(retraining_bucket: str) -> World:
    """Users in every role, a queue, a case in review with one transaction, an open one."""
    world = World()
    world.analyst = make_user("ana", "analyst")
    world.other_analyst = make_user("otto", "analyst")
    world.lead = make_user("lea", "lead")
    world.second_lead = make_user("leo", "lead")
    world.admin = make_user("adm", "admin")
    world.auditor = make_user("aud", "auditor")
    world.service = make_user("svc", "service")
    world.root = get_user_model().objects.create_superuser("root", password="a-long-test-pw-1")
    world.system = system_actor()
    world.queue = make_queue(
        "General", world.analyst, world.other_analyst, world.lead, sla_hours=8, is_default=True
    )
    make_reason_codes()
    world.case = make_case(world.queue, status=CaseStatus.IN_REVIEW, transactions=1)
    world.tx = world.case.transactions.get()
    world.case2 = make_case(world.queue, status=CaseStatus.OPEN, transactions=1)
    world.tx2 = world.case2.transactions.get()
    Case.objects.filter(pk=world.case.pk).update(priority=90)
    Case.objects.filter(pk=world.case2.pk).update(priority=10)
    world.retraining_bucket = retraining_bucket
    return world


def fresh(obj):
    """The object as the database has it now."""
    return type(obj).objects.get(pk=obj.pk)
