"""The permission matrix: each role against each action; a refusal changes nothing and is audited."""

import pytest

from cases.errors import ActionNotPermitted
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, Note, Queue, ReasonCode
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db

ROLES = ("analyst", "lead", "auditor", "admin")
ACTIONS = {
    # action: (roles allowed, how to perform it on (actor, case, other_case, colleague))
    "assign to me": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.case_assign_to_me(actor=a, case_id=c.pk)),
    "assign to another": ({"lead", "admin"}, lambda a, c, o, m: services.case_assign(actor=a, case_id=c.pk, assignee_id=m.pk)),
    "claim next": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.case_claim_next(actor=a)),
    "move to in review": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.case_transition(actor=a, case_id=c.pk, to_status="in_review")),
    "close": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.case_close(actor=a, case_id=c.pk, resolution="inconclusive", reason_codes=["insufficient-evidence"], comment="done")),
    "reopen": ({"lead", "admin"}, lambda a, c, o, m: services.case_reopen(actor=a, case_id=o.pk, reason="new evidence")),
    "merge": ({"lead", "admin"}, lambda a, c, o, m: services.case_merge(actor=a, source_case_id=c.pk, target_case_id=m.extra_case.pk, justification="same ring")),
    "add a note": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.case_add_note(actor=a, case_id=c.pk, body="note")),
    "tag": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.case_set_tags(actor=a, case_id=c.pk, add=["ato"])),
    "decide a transaction": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.transaction_decide(actor=a, transaction_id=c.transactions.first().transaction_id, decision="block")),
    "label a transaction": ({"analyst", "lead", "admin"}, lambda a, c, o, m: services.transaction_label(actor=a, transaction_id=c.transactions.first().transaction_id, label="fraud")),
    "manage a queue": ({"lead", "admin"}, lambda a, c, o, m: services.queue_save(actor=a, name="New queue")),
    "manage reason codes": ({"lead", "admin"}, lambda a, c, o, m: services.reason_code_save(actor=a, code="new-code", label="New")),
}  # fmt: skip


def state() -> tuple:
    """Everything the actions could change, to prove a refusal changed nothing."""
    cases = tuple(
        Case.objects.order_by("pk").values_list(
            "pk", "status", "version", "assignee_id", "resolution"
        )
    )
    return (
        cases,
        Note.objects.count(),
        Queue.objects.count(),
        ReasonCode.objects.count(),
        tuple(Case.objects.order_by("pk").values_list("tags__name", flat=True)),
        AuditEvent.objects.exclude(action=AuditAction.PERMISSION_DENIED).count(),
    )


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(role, action):
    allowed_roles, perform = ACTIONS[action]
    actor = make_user(f"the-{role}", role)
    colleague = make_user("colleague", "analyst")
    queue = make_queue("General", colleague, *([actor] if role == "analyst" else []))
    make_reason_codes()
    case = make_case(queue)
    closed = make_case(queue, status=CaseStatus.CLOSED, resolution="inconclusive")
    colleague.extra_case = make_case(queue)
    before = state()
    denied_before = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()

    if role in allowed_roles:
        perform(actor, case, closed, colleague)
        assert state() != before, f"{role} may {action}, so something must have changed"
    else:
        with pytest.raises(ActionNotPermitted):
            perform(actor, case, closed, colleague)
        assert state() == before, f"a refused {action} by {role} changed something"
        denied = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED)
        assert denied.count() == denied_before + 1
        assert denied.last().actor == actor
