"""Rows of the service audit table: the triage queue's saved views (cases.queue.services)."""

from __future__ import annotations

from cases.models import AuditAction as A
from cases.queue import services as queue_views
from cases.tests.service_audit_table import Event, Row


def _saved_view(world) -> None:
    world.saved_view = queue_views.saved_view_create(
        actor=world.analyst, name="Breached", query="tab=mine&sla_breached=1"
    )


TRIAGE_ROWS: list[Row] = [
    Row(
        queue_views.saved_view_create,
        "analyst",
        lambda w, a: queue_views.saved_view_create(
            actor=a, name=" Breached  mine ", query="tab=mine&sla_breached=1&page=3"
        ),
        lambda w, r: [
            Event(
                A.SAVED_VIEW_CREATED,
                r,
                after={"name": "Breached mine", "query": "tab=mine&sla_breached=1"},
            )
        ],
    ),
    Row(
        queue_views.saved_view_delete,
        "analyst",
        lambda w, a: queue_views.saved_view_delete(actor=a, view_id=w.saved_view.pk),
        lambda w, r: [
            Event(
                A.SAVED_VIEW_DELETED,
                ("cases.savedqueueview", w.saved_view.pk),
                before={"name": "Breached", "query": "tab=mine&sla_breached=1"},
            )
        ],
        setup=_saved_view,
    ),
]
