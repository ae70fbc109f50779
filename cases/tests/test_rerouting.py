"""Cases follow their routing rules after opening; leads' rule changes and moves route them."""

from datetime import timedelta

import pytest

from cases.audit.selectors import audit_chain_verify
from cases.audit.trail import system_actor
from cases.errors import ActionNotPermitted
from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, Queue
from cases.tests.service_audit_table import as_stored
from cases.tests.workflow_fixtures import make_case, make_user
from cases.workflow.services import case_move_to_queue, queue_save
from cases.workflow.services.setup import workflow_defaults_ensure
from conftest import contract_row, put_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return make_user("lea", "lead")


@pytest.fixture
def defaults(lead):
    general_member = make_user("ana", "analyst")
    workflow_defaults_ensure(actor=lead, member_ids=[general_member.pk])
    return {queue.name: queue for queue in Queue.objects.all()}


def ingest(s3, bucket, key, rows) -> None:
    put_file(s3, bucket, key, encode_rows(rows, "jsonl"))
    for run_id in ingest_services.inbox_scan(bucket=bucket):
        run = ingest_services.ingest_run_execute(run_id=run_id)
        assert run.status == "succeeded", run.error


def routed_events(case) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.CASE_ROUTED, object_id=str(case.pk)).order_by(
            "id"
        )
    )


def test_a_block_transaction_later_moves_an_unassigned_case_to_high_risk(s3, bucket, defaults):
    ingest(
        s3, bucket, "flagged/1.jsonl", [contract_row(1, account_id="acc_a", outcome="investigate")]
    )
    case = Case.objects.get(account_id="acc_a")
    assert case.queue.name == "General"
    general_due = case.due_at
    assert general_due == case.opened_at + timedelta(hours=24)

    ingest(s3, bucket, "flagged/2.jsonl", [contract_row(2, account_id="acc_a", outcome="block")])

    case.refresh_from_db()
    assert case.queue.name == "High risk"
    assert case.due_at == case.opened_at + timedelta(hours=4)  # the new SLA, earlier than before
    [event] = routed_events(case)
    assert event.actor_id == system_actor().pk
    assert event.before == as_stored({"queue": "General", "due_at": general_due})
    assert event.after["queue"] == "High risk"
    assert event.after["trigger"] == "new transactions"
    assert audit_chain_verify().ok


def test_an_assigned_case_stays_with_its_assignee_and_queue(s3, bucket, defaults):
    ingest(
        s3, bucket, "flagged/1.jsonl", [contract_row(1, account_id="acc_a", outcome="investigate")]
    )
    case = Case.objects.get(account_id="acc_a")
    analyst = case.queue.members.get()
    Case.objects.filter(pk=case.pk).update(assignee=analyst, status=CaseStatus.IN_REVIEW)

    ingest(s3, bucket, "flagged/2.jsonl", [contract_row(2, account_id="acc_a", outcome="block")])

    case.refresh_from_db()
    assert (case.queue.name, case.assignee) == ("General", analyst)
    assert case.worst_outcome == "block"
    assert routed_events(case) == []


def test_a_lead_moves_an_assigned_case_and_its_assignee_keeps_it(defaults, lead):
    analyst = make_user("otto", "analyst")
    case = make_case(defaults["General"], assignee=analyst, status=CaseStatus.IN_REVIEW)
    case.due_at = case.opened_at + timedelta(hours=24)
    case.save()

    moved = case_move_to_queue(actor=lead, case_id=case.pk, queue_id=defaults["High risk"].pk)

    assert (moved.queue.name, moved.assignee) == ("High risk", analyst)
    assert moved.due_at == case.opened_at + timedelta(hours=4)
    [event] = routed_events(case)
    assert event.after["trigger"] == "moved by a lead"


def test_an_analyst_may_not_move_a_case_and_nothing_changes(defaults):
    analyst = make_user("otto", "analyst")
    case = make_case(defaults["General"])

    with pytest.raises(ActionNotPermitted):
        case_move_to_queue(actor=analyst, case_id=case.pk, queue_id=defaults["High risk"].pk)

    case.refresh_from_db()
    assert case.queue.name == "General"
    assert routed_events(case) == []


def test_a_rule_change_reroutes_open_unassigned_cases_counted_and_never_later(defaults, lead):
    high = defaults["High risk"]
    investigate = make_case(high)  # outcome "investigate": no longer High risk's
    due = investigate.opened_at + timedelta(hours=4)
    Case.objects.filter(pk=investigate.pk).update(due_at=due)
    held = make_case(high, assignee=lead, status=CaseStatus.IN_REVIEW)
    closed = make_case(high, status=CaseStatus.CLOSED)

    saved = queue_save(actor=lead, queue_id=high.pk, outcomes=["block"], min_amount=None)

    assert saved.cases_rerouted == 1
    investigate.refresh_from_db()
    assert investigate.queue.name == "General"
    assert investigate.due_at == due  # General's 24 h would be later than the old due time
    assert Case.objects.get(pk=held.pk).queue == high
    assert Case.objects.get(pk=closed.pk).queue == high
    [event] = routed_events(investigate)
    assert event.after["trigger"] == "queue rules changed"
    changed = AuditEvent.objects.filter(action=AuditAction.QUEUE_CHANGED, object_id=str(high.pk))
    assert changed.latest("id").after["cases_rerouted"] == 1


def test_cases_opened_before_any_queue_are_routed_when_the_first_queue_appears(lead):
    early = [make_case(None), make_case(None)]
    assert {case.queue for case in early} == {None}

    queue = queue_save(actor=lead, name="General", is_default=True, sla_hours=24)

    assert queue.cases_rerouted == 2
    for case in early:
        case.refresh_from_db()
        assert case.queue == queue
        assert case.due_at == case.opened_at + timedelta(hours=24)


def test_a_member_change_moves_no_case(defaults, lead):
    case = make_case(defaults["High risk"])  # would leave High risk if routed again

    saved = queue_save(actor=lead, queue_id=defaults["High risk"].pk, member_ids=[lead.pk])

    assert saved.cases_rerouted == 0
    assert Case.objects.get(pk=case.pk).queue.name == "High risk"


def test_a_case_moved_into_a_round_robin_queue_is_assigned_in_turn(s3, bucket, defaults, lead):
    high = defaults["High risk"]
    queue_save(actor=lead, queue_id=high.pk, round_robin=True, member_ids=[lead.pk])
    ingest(s3, bucket, "flagged/1.jsonl", [contract_row(1, account_id="acc_a", outcome="approve")])
    assert Case.objects.get(account_id="acc_a").assignee is None

    ingest(s3, bucket, "flagged/2.jsonl", [contract_row(2, account_id="acc_a", outcome="block")])

    case = Case.objects.get(account_id="acc_a")
    assert (case.queue, case.assignee) == (high, lead)
