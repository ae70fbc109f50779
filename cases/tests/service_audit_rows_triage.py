"""Rows of the service audit table: the triage queue's saved views (cases.queue.services),
following cases, mentions and reminders (cases.watchers.services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cases.clock import database_now
from cases.models import AuditAction as A
from cases.models import Case, CaseStatus, CaseWatcher, Note
from cases.queue import services as queue_views
from cases.tests.service_audit_table import Event, Row
from cases.watchers import services as watchers
from cases.workflow.services import annotations, lifecycle

REPLY_DUE = datetime(2031, 3, 4, 23, 59, tzinfo=UTC)


def _saved_view(world) -> None:
    world.saved_view = queue_views.saved_view_create(
        actor=world.analyst, name="Breached", query="tab=mine&sla_breached=1"
    )


def _following(world) -> None:
    watchers.case_follow(actor=world.analyst, case_id=world.case.pk)


def _overdue_reply(world) -> None:
    world.reply_due = database_now() - timedelta(hours=1)
    Case.objects.filter(pk=world.case.pk).update(
        status=CaseStatus.WAITING_ON_CUSTOMER, waiting_until=world.reply_due,
        assignee=world.analyst,
    )  # fmt: skip
    CaseWatcher.objects.create(case=world.case, user=world.other_analyst)


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
    Row(
        watchers.case_follow,
        "analyst",
        lambda w, a: watchers.case_follow(actor=a, case_id=w.case.pk),
        lambda w, r: [Event(A.CASE_FOLLOWED, w.case, after={"follower": "ana"})],
    ),
    Row(
        watchers.case_unfollow,
        "analyst",
        lambda w, a: watchers.case_unfollow(actor=a, case_id=w.case.pk),
        lambda w, r: [Event(A.CASE_UNFOLLOWED, w.case, before={"follower": "ana"})],
        setup=_following,
    ),
    Row(
        annotations.case_add_note,
        "analyst",
        lambda w, a: annotations.case_add_note(
            actor=a, case_id=w.case.pk, body="@otto please call the bank; @nobody-here too"
        ),
        lambda w, r: [
            Event(
                A.NOTE_ADDED,
                w.case,
                after={
                    "note_id": Note.objects.get().pk,
                    "body": "@otto please call the bank; @nobody-here too",
                    "mentioned": ["otto"],
                },
            )
        ],
        id="case_add_note (a mention)",
    ),
    Row(
        lifecycle.case_transition,
        "analyst",
        lambda w, a: lifecycle.case_transition(
            actor=a, case_id=w.case.pk, to_status="waiting_on_customer", waiting_until=REPLY_DUE
        ),
        lambda w, r: [
            Event(
                A.CASE_STATUS_CHANGED,
                w.case,
                {"status": "in_review"},
                {"status": "waiting_on_customer", "waiting_until": REPLY_DUE, "version": 2},
            )
        ],
        id="case_transition (waiting on the customer)",
    ),
    Row(
        watchers.case_reminders_send,
        "system",
        lambda w, a: watchers.case_reminders_send(actor=a),
        lambda w, r: [
            Event(
                A.CASE_REMINDER_SENT,
                w.case,
                after={"waiting_until": w.reply_due, "recipients": ["ana", "otto"]},
            )
        ],
        setup=_overdue_reply,
    ),
]
