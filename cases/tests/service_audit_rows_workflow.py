"""Rows of the service audit table: the case workflow (cases.workflow.services)."""

from __future__ import annotations

from datetime import timedelta

from cases.models import AuditAction as A
from cases.models import Note, Queue, ReasonCode
from cases.tests.service_audit_table import Event, Row, fresh
from cases.tests.workflow_fixtures import make_case
from cases.workflow.services import (
    annotations,
    assignment,
    attachments,
    bulk,
    lifecycle,
    merge,
    queues,
    routing,
    setup,
)
from cases.workflow.services.queues import QUEUE_FIELDS
from cases.workflow.services.setup import DEFAULT_REASON_CODES


def _closed(world) -> None:
    lifecycle.case_close(
        actor=world.analyst, case_id=world.case.pk, resolution="inconclusive",
        reason_codes=["insufficient-evidence"], comment="nothing more to find",
    )  # fmt: skip


def _assigned_to_analyst(world) -> None:
    assignment.case_assign_to_me(actor=world.analyst, case_id=world.case.pk)


def _round_robin(world) -> None:
    Queue.objects.filter(pk=world.queue.pk).update(round_robin=True)
    world.new_case = make_case(None, transactions=1)


def _new_case(world) -> None:
    world.new_case = make_case(None, transactions=1)


def _opened(world, case, queue) -> Event:
    case = fresh(case)
    return Event(
        A.CASE_OPENED, case,
        after={"account_id": case.account_id, "queue": queue.name, "due_at": case.due_at,
               "priority": case.priority},
    )  # fmt: skip


def _queue_after(queue, members=None, *, rerouted: int | None = 0) -> dict:
    """The queue's fields as QUEUE_CHANGED records them (rerouted None: a before)."""
    after = {name: getattr(fresh(queue), name) for name in QUEUE_FIELDS}
    if members is not None:
        after["members"] = members
    if rerouted is not None:
        after["cases_rerouted"] = rerouted
    return after


def _investigate_queue(world) -> None:
    world.high = Queue.objects.create(
        name="High", outcomes=["investigate"], routing_order=1, sla_hours=2
    )


def _cards_queue(world) -> None:
    world.cards = Queue.objects.create(name="Cards", sla_hours=3)


def _routed(case, before_queue, queue, trigger, **extra) -> Event:
    case = fresh(case)
    return Event(
        A.CASE_ROUTED, case, {"queue": before_queue, "due_at": None},
        {"queue": queue.name, "due_at": case.opened_at + timedelta(hours=queue.sla_hours),
         "trigger": trigger, **extra},
    )  # fmt: skip


def _defaults_expected(world, queues_made) -> list[Event]:
    existing = {"customer-confirmed", "card-compromised", "insufficient-evidence"}
    made = [
        Event(
            A.REASON_CODE_CHANGED,
            ReasonCode.objects.get(code=code),
            after={"label": label, "resolution": resolution, "active": True},
        )  # fmt: skip
        for code, label, resolution in DEFAULT_REASON_CODES
        if code not in existing
    ]
    high_risk = Queue.objects.get(name="High risk")
    return [*made, Event(A.QUEUE_CHANGED, high_risk, after=_queue_after(high_risk, []))]


def _stored_file(world) -> None:
    world.stored = attachments.attachment_store(
        actor=world.analyst, case_id=world.case.pk, filename="call notes.txt",
        content=b"the customer said",
    )  # fmt: skip


WORKFLOW_ROWS = [
    Row(
        lifecycle.case_transition,
        "analyst",
        lambda w, a: lifecycle.case_transition(actor=a, case_id=w.case.pk, to_status="escalated"),
        lambda w, r: [
            Event(
                A.CASE_STATUS_CHANGED,
                w.case,
                {"status": "in_review"},
                {"status": "escalated", "version": 2},
            )
        ],
    ),
    Row(
        lifecycle.case_close,
        "analyst",
        lambda w, a: _closed(w),
        lambda w, r: [
            Event(
                A.TRANSACTION_DECIDED,
                w.tx,
                {"decision": ""},
                {"decision": "investigate", "why": "resolution default", "case_id": w.case.pk},
            ),
            Event(
                A.CASE_CLOSED,
                w.case,
                {"status": "in_review", "resolution": "", "closing_comment": ""},
                {
                    "status": "closed",
                    "resolution": "inconclusive",
                    "closing_comment": "nothing more to find",
                    "reason_codes": ["insufficient-evidence"],
                    "version": 2,
                },
            ),
        ],
    ),
    Row(
        lifecycle.case_reopen,
        "lead",
        lambda w, a: lifecycle.case_reopen(actor=a, case_id=w.case.pk, reason="new evidence"),
        lambda w, r: [
            Event(
                A.CASE_REOPENED,
                w.case,
                {
                    "status": "closed",
                    "resolution": "inconclusive",
                    "closing_comment": "nothing more to find",
                },
                {"status": "in_review", "reason": "new evidence", "version": 3},
            )
        ],
        setup=_closed,
    ),
    Row(
        lifecycle.transaction_decide,
        "analyst",
        lambda w, a: lifecycle.transaction_decide(
            actor=a, transaction_id=w.tx.transaction_id, decision="block"
        ),
        lambda w, r: [
            Event(
                A.TRANSACTION_DECIDED,
                w.tx,
                {"decision": ""},
                {"decision": "block", "why": "analyst", "case_id": w.case.pk},
            )
        ],
    ),
    Row(
        lifecycle.transaction_label,
        "analyst",
        lambda w, a: lifecycle.transaction_label(
            actor=a, transaction_id=w.tx.transaction_id, label="fraud"
        ),
        lambda w, r: [
            Event(
                A.TRANSACTION_LABELLED,
                w.tx,
                {"label": ""},
                {
                    "label": "fraud",
                    "why": "analyst",
                    "case_id": w.case.pk,
                    "version": 1,
                    "status": "pending",
                },
            )
        ],
    ),
    Row(
        annotations.case_add_note,
        "analyst",
        lambda w, a: annotations.case_add_note(
            actor=a, case_id=w.case.pk, body=" Called the bank "
        ),
        lambda w, r: [
            Event(
                A.NOTE_ADDED,
                w.case,
                after={"note_id": Note.objects.get().pk, "body": "Called the bank"},
            )
        ],
    ),
    Row(
        annotations.case_set_tags,
        "analyst",
        lambda w, a: annotations.case_set_tags(actor=a, case_id=w.case.pk, add=["Mule"]),
        lambda w, r: [Event(A.CASE_TAGGED, w.case, {"tags": []}, {"tags": ["mule"]})],
    ),
    Row(
        annotations.cases_bulk_tag,
        "analyst",
        lambda w, a: annotations.cases_bulk_tag(
            actor=a, case_ids=[w.case.pk, w.case2.pk], add=["mule"]
        ),
        lambda w, r: [
            Event(A.CASE_TAGGED, c, {"tags": []}, {"tags": ["mule"]}) for c in (w.case, w.case2)
        ],
    ),
    Row(
        attachments.case_attach_file,
        "analyst",
        lambda w, a: attachments.case_attach_file(
            actor=a, case_id=w.case.pk, filename="call notes.txt", content=b"the customer said"
        ),
        lambda w, r: [
            Event(
                A.ATTACHMENT_ADDED,
                w.case,
                after={
                    "attachment_id": r.pk,
                    "filename": "call_notes.txt",
                    "sha256": r.sha256,
                    "size_bytes": 17,
                    "s3_key": r.s3_key,
                },
            )
        ],
    ),
    Row(
        attachments.case_attach_stored,
        "analyst",
        lambda w, a: attachments.case_attach_stored(actor=a, stored=w.stored),
        lambda w, r: [
            Event(
                A.ATTACHMENT_ADDED,
                w.case,
                after={
                    "attachment_id": r.pk,
                    "filename": "call_notes.txt",
                    "sha256": r.sha256,
                    "size_bytes": 17,
                    "s3_key": w.stored.key,
                },
            )
        ],
        setup=_stored_file,
    ),
    Row(
        assignment.case_assign,
        "lead",
        lambda w, a: assignment.case_assign(actor=a, case_id=w.case.pk, assignee_id=w.analyst.pk),
        lambda w, r: [
            Event(A.CASE_ASSIGNED, w.case, {"assignee": None}, {"assignee": "ana", "version": 2})
        ],
    ),
    Row(
        assignment.case_assign_to_me,
        "analyst",
        lambda w, a: assignment.case_assign_to_me(actor=a, case_id=w.case.pk),
        lambda w, r: [
            Event(A.CASE_ASSIGNED, w.case, {"assignee": None}, {"assignee": "ana", "version": 2})
        ],
    ),
    Row(
        assignment.case_assign_to_me,
        "lead",
        lambda w, a: assignment.case_assign_to_me(
            actor=a, case_id=w.case.pk, reason=" ana is away "
        ),
        lambda w, r: [
            Event(
                A.CASE_TAKEN_OVER,
                w.case,
                {"assignee": "ana"},
                {"assignee": "lea", "reason": "ana is away", "version": 3},
            )
        ],
        setup=_assigned_to_analyst,
        id="case_assign_to_me (take-over)",
    ),
    Row(
        assignment.case_unassign,
        "analyst",
        lambda w, a: assignment.case_unassign(actor=a, case_id=w.case.pk),
        lambda w, r: [
            Event(A.CASE_UNASSIGNED, w.case, {"assignee": "ana"}, {"assignee": None, "version": 3})
        ],
        setup=_assigned_to_analyst,
    ),
    Row(
        assignment.case_claim_next,
        "analyst",
        lambda w, a: assignment.case_claim_next(actor=a),
        lambda w, r: [
            Event(A.CASE_ASSIGNED, w.case, {"assignee": None}, {"assignee": "ana", "version": 2})
        ],
    ),
    Row(
        assignment.cases_bulk_assign,
        "lead",
        lambda w, a: assignment.cases_bulk_assign(
            actor=a, case_ids=[w.case2.pk, w.case.pk], assignee_id=w.analyst.pk
        ),
        lambda w, r: [
            Event(A.CASE_ASSIGNED, c, {"assignee": None}, {"assignee": "ana", "version": 2})
            for c in sorted((w.case, w.case2), key=lambda c: str(c.pk))
        ],
    ),
    Row(
        bulk.cases_bulk_assign_to_me,
        "analyst",
        lambda w, a: bulk.cases_bulk_assign_to_me(actor=a, case_ids=[w.case.pk, w.case2.pk]),
        lambda w, r: [
            Event(A.CASE_ASSIGNED, c, {"assignee": None}, {"assignee": "ana", "version": 2})
            for c in (w.case, w.case2)
        ],
    ),
    Row(
        bulk.cases_bulk_close_false_positive,
        "analyst",
        lambda w, a: bulk.cases_bulk_close_false_positive(
            actor=a, case_ids=[w.case.pk], reason_codes=["customer-confirmed"], comment="fine"
        ),
        lambda w, r: [
            Event(
                A.TRANSACTION_DECIDED,
                w.tx,
                {"decision": ""},
                {"decision": "approve", "why": "resolution default", "case_id": w.case.pk},
            ),
            Event(
                A.TRANSACTION_LABELLED,
                w.tx,
                {"label": ""},
                {
                    "label": "legitimate",
                    "why": "resolution default",
                    "case_id": w.case.pk,
                    "version": 1,
                    "status": "pending",
                },
            ),
            Event(
                A.CASE_CLOSED,
                w.case,
                {"status": "in_review", "resolution": "", "closing_comment": ""},
                {
                    "status": "closed",
                    "resolution": "false_positive",
                    "closing_comment": "fine",
                    "reason_codes": ["customer-confirmed"],
                    "version": 2,
                },
            ),
        ],
    ),
    Row(
        merge.case_merge,
        "lead",
        lambda w, a: merge.case_merge(
            actor=a, source_case_id=w.case2.pk, target_case_id=w.case.pk, justification="same ring"
        ),
        lambda w, r: [
            Event(
                A.CASE_MERGED,
                w.case2,
                {"status": "open"},
                {
                    "justification": "same ring",
                    "merged_into": w.case.reference,
                    "moved": {"transactions": 1, "notes": 0, "attachments": 0},
                },
            ),
            Event(
                A.CASE_MERGED,
                w.case,
                after={
                    "justification": "same ring",
                    "merged_from": w.case2.reference,
                    "moved": {"transactions": 1, "notes": 0, "attachments": 0},
                },
            ),
        ],
    ),
    Row(
        merge.case_merge,
        "lead",
        lambda w, a: merge.case_merge(
            actor=a, source_case_id=w.case.pk, target_case_id=w.case2.pk, justification="same"
        ),
        lambda w, r: [
            Event(
                A.CASE_MERGED,
                w.case,
                {"status": "in_review"},
                {
                    "justification": "same",
                    "merged_into": w.case2.reference,
                    "moved": {"transactions": 1, "notes": 0, "attachments": 0},
                },
            ),
            Event(
                A.CASE_MERGED,
                w.case2,
                after={
                    "justification": "same",
                    "merged_from": w.case.reference,
                    "moved": {"transactions": 1, "notes": 0, "attachments": 0},
                },
            ),
        ],
        id="case_merge (source in review)",
    ),
    Row(
        queues.queue_save,
        "lead",
        lambda w, a: queues.queue_save(
            actor=a,
            name="Cards",
            sla_hours=4,
            routing_order=5,
            member_ids=[w.analyst.pk],
            outcomes=["block"],
        ),
        lambda w, r: [Event(A.QUEUE_CHANGED, r, None, _queue_after(r, ["ana"]))],
    ),
    Row(
        queues.queue_save,
        "lead",
        lambda w, a: queues.queue_save(actor=a, queue_id=w.queue.pk, sla_hours=12),
        lambda w, r: [
            Event(
                A.QUEUE_CHANGED,
                r,
                {**_queue_after(r, rerouted=None), "sla_hours": 8},
                _queue_after(r),
            )
        ],
        id="queue_save (change)",
    ),
    Row(
        queues.queue_save,
        "lead",
        lambda w, a: queues.queue_save(actor=a, queue_id=w.queue.pk, member_ids=[w.analyst.pk]),
        lambda w, r: [
            Event(
                A.QUEUE_CHANGED,
                r,
                {**_queue_after(r, rerouted=None), "members": ["ana", "lea", "otto"]},
                _queue_after(r, ["ana"]),
            )
        ],
        id="queue_save (members)",
    ),
    Row(
        queues.reason_code_save,
        "lead",
        lambda w, a: queues.reason_code_save(
            actor=a, code="chargeback", label="Chargeback filed", resolution="confirmed_fraud"
        ),
        lambda w, r: [
            Event(
                A.REASON_CODE_CHANGED,
                r,
                None,
                {"label": "Chargeback filed", "resolution": "confirmed_fraud", "active": True},
            )
        ],
    ),
    Row(
        queues.cases_route_new,
        "system",
        lambda w, a: queues.cases_route_new(actor=a, case_ids=[w.new_case.pk]),
        lambda w, r: [_opened(w, w.new_case, w.queue)],
        setup=_new_case,
    ),
    Row(
        assignment.cases_auto_assign,
        "system",
        lambda w, a: queues.cases_route_new(actor=a, case_ids=[w.new_case.pk]),
        lambda w, r: [
            _opened(w, w.new_case, w.queue),
            Event(
                A.CASE_ASSIGNED, w.new_case, {"assignee": None}, {"assignee": "ana", "version": 2}
            ),
        ],
        setup=_round_robin,
        id="cases_route_new (round robin: cases_auto_assign)",
    ),
    Row(
        routing.cases_reroute,
        "system",
        lambda w, a: routing.cases_reroute(
            actor=a, case_ids=[w.case2.pk], trigger=routing.TRIGGER_TRANSACTIONS
        ),
        lambda w, r: [_routed(w.case2, "General", w.high, routing.TRIGGER_TRANSACTIONS)],
        setup=_investigate_queue,
    ),
    Row(
        routing.case_move_to_queue,
        "lead",
        lambda w, a: routing.case_move_to_queue(actor=a, case_id=w.case.pk, queue_id=w.cards.pk),
        lambda w, r: [_routed(w.case, "General", w.cards, "moved by a lead", version=2)],
        setup=_cards_queue,
    ),
    Row(
        setup.workflow_defaults_ensure,
        "admin",
        lambda w, a: setup.workflow_defaults_ensure(actor=a),
        _defaults_expected,
    ),
]
