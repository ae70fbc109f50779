"""Every change a case's representation shows moves its updated_at (what updated_since sees):
the case's own fields also move its version; notes, attachments and verdicts only updated_at."""

import pytest
from django.utils import timezone

from cases.labels.services.versions import label_review
from cases.models import Case, LabelStatus, LabelVersion
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow import services
from cases.workflow.selectors import CaseFilters, cases_for_sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting():
    analyst = make_user("ana", "analyst")
    queue = make_queue("General", analyst)
    return analyst, make_case(queue), make_case(queue)


def changed_since(viewer, mark) -> set[int]:
    return set(
        cases_for_sync(viewer=viewer, filters=CaseFilters(updated_since=mark)).values_list(
            "pk", flat=True
        )
    )


def pdf_attachment(analyst, case):
    return services.case_attach_file(
        actor=analyst, case_id=case.pk, filename="statement.pdf", content=b"%PDF-1.7\nstatement"
    )


CHANGES = {
    "note": (lambda analyst, case: services.case_add_note(
        actor=analyst, case_id=case.pk, body="called the customer"), 0),
    "tags": (lambda analyst, case: services.case_set_tags(
        actor=analyst, case_id=case.pk, add=["ato"]), 1),
    "attachment": (pdf_attachment, 0),
    "decision": (lambda analyst, case: services.transaction_decide(
        actor=analyst, transaction_id=case.transactions.first().transaction_id,
        decision="block"), 0),
    "label": (lambda analyst, case: services.transaction_label(
        actor=analyst, transaction_id=case.transactions.first().transaction_id,
        label="fraud"), 0),
}  # fmt: skip


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_shown_on_the_case_moves_its_updated_at(setting, change, settings, bucket):
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    analyst, case, untouched = setting
    act, version_step = CHANGES[change]
    mark = timezone.now()

    act(analyst, case)

    assert changed_since(analyst, mark) == {case.pk}
    after = Case.objects.get(pk=case.pk)
    assert after.updated_at > mark and after.version == case.version + version_step
    assert Case.objects.get(pk=untouched.pk).updated_at == untouched.updated_at


def test_a_change_that_changes_nothing_moves_nothing(setting):
    analyst, case, _ = setting
    services.case_set_tags(actor=analyst, case_id=case.pk, add=["ato"])
    mark = timezone.now()

    services.case_set_tags(actor=analyst, case_id=case.pk, add=["ato"])

    assert changed_since(analyst, mark) == set()


def test_a_lead_releasing_a_held_label_moves_the_case(setting):
    analyst, case, _ = setting
    lead = make_user("lea", "lead")
    tx = case.transactions.first()
    services.transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="fraud")
    held = LabelVersion.objects.get(transaction=tx)
    LabelVersion.objects.filter(pk=held.pk).update(
        status=LabelStatus.HELD, hold_reason="contradiction_burst"
    )
    mark = timezone.now()

    label_review(actor=lead, version_id=held.pk, approve=False, note="not convinced")

    assert changed_since(lead, mark) == {case.pk}
