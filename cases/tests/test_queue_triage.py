"""The queue's triage aids: the Queue column and filter, the SLA-breached filter, age from the
first flag, the currency beside amounts, saved views per user, several tags or reason codes in
bulk."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from cases.clock import database_now
from cases.errors import InvalidInput, NotFound
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, SavedQueueView, Transaction
from cases.queue import services as saved
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import signed_in

pytestmark = pytest.mark.django_db


def shown(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-case-id="(\d+)"', response.content.decode())]


def row_of(response, case: Case) -> str:
    text = response.content.decode()
    start = text.index(f'data-case-id="{case.pk}"')
    return text[start : text.index("</tr>", start)]


@pytest.fixture
def world():
    ana = make_user("ana", "analyst")
    lead = make_user("lea", "lead")
    general = make_queue("General", ana)
    high = make_queue("High risk", ana, routing_order=1)
    elsewhere = make_queue("Elsewhere")
    now = database_now()
    return {
        "ana": ana, "lead": lead, "general": general, "high": high,
        "in_general": make_case(general, due_at=now + timedelta(hours=3)),
        "breached": make_case(high, due_at=now - timedelta(minutes=5)),
        "elsewhere": make_case(elsewhere, due_at=now - timedelta(hours=2)),
        "unrouted": make_case(None),
    }  # fmt: skip


def test_the_queue_column_names_each_case_queue_and_unrouted(client, world):
    signed_in(client, world["lead"])

    response = client.get("/?tab=all&sort=reference")

    assert '<td class="queue-queue">General</td>' in row_of(response, world["in_general"])
    assert '<td class="queue-queue">High risk</td>' in row_of(response, world["breached"])
    assert "unrouted" in row_of(response, world["unrouted"])


def test_the_queue_filter_narrows_and_unrouted_is_for_leads(client, world):
    signed_in(client, world["lead"])

    by_queue = client.get(f"/?tab=all&sort=reference&queue={world['high'].pk}")
    unrouted = client.get("/?tab=all&sort=reference&queue=none")

    assert shown(by_queue) == [world["breached"].pk]
    assert shown(unrouted) == [world["unrouted"].pk]
    assert '<option value="none">Unrouted (no queue)</option>' in by_queue.content.decode()


def test_an_analyst_filters_by_their_own_queues_only(client, world):
    signed_in(client, world["ana"])

    page = client.get(f"/?tab=unassigned&sort=reference&queue={world['general'].pk}")
    foreign = client.get(f"/?tab=unassigned&sort=reference&queue={world['elsewhere'].pk}")

    assert shown(page) == [world["in_general"].pk]
    text = page.content.decode()
    assert "Elsewhere" not in text and "Unrouted (no queue)" not in text
    assert shown(foreign) == []  # another queue's cases stay out of reach


def test_the_sla_breached_filter_keeps_only_overdue_cases(client, world):
    signed_in(client, world["lead"])

    response = client.get("/?tab=all&sort=reference&sla_breached=1")

    assert shown(response) == [world["breached"].pk, world["elsewhere"].pk]
    assert 'id="queue-filter-sla-breached" value="1" checked' in response.content.decode()


def test_age_runs_from_the_first_flag_not_from_ingest(client, world):
    signed_in(client, world["lead"])
    case = world["in_general"]
    now = database_now()
    Case.objects.filter(pk=case.pk).update(opened_at=now - timedelta(minutes=10))
    first, second = Transaction.objects.filter(case=case).order_by("id")
    Transaction.objects.filter(pk=first.pk).update(occurred_at=now - timedelta(days=2, hours=3))
    Transaction.objects.filter(pk=second.pk).update(occurred_at=now - timedelta(hours=5))

    row = row_of(client.get("/?tab=all"), case)

    assert ">2 d 3 h</span>" in row
    assert "first flagged " in row and "case opened " in row


def test_sorting_by_age_follows_the_first_flag(client, world):
    signed_in(client, world["lead"])
    old = datetime(2026, 1, 1, tzinfo=UTC)
    order = [world["unrouted"], world["in_general"], world["breached"], world["elsewhere"]]
    for days, case in enumerate(order):
        # Opened in the reverse order: ingest time must not decide.
        Case.objects.filter(pk=case.pk).update(opened_at=old + timedelta(days=10 - days))
        Transaction.objects.filter(case=case).update(occurred_at=old + timedelta(days=days))

    assert shown(client.get("/?tab=all&sort=-age")) == [case.pk for case in order]
    assert shown(client.get("/?tab=all&sort=age")) == [case.pk for case in reversed(order)]


def test_amounts_show_their_currency(client, world):
    """The amount column is cases.currency's display (its own tests cover conversion, mixed
    currencies and missing rates): here, that the queue row carries it."""
    signed_in(client, world["lead"])

    response = client.get("/?tab=all")

    assert '<td class="queue-num queue-amount">' in row_of(response, world["in_general"])
    assert "300.00 EUR</span>" in row_of(response, world["in_general"])


# --- saved views -------------------------------------------------------------------------------


def test_saving_a_view_keeps_the_query_without_the_page_and_audits_it(world):
    view = saved.saved_view_create(
        actor=world["ana"], name="  My   breached ", query="tab=mine&sla_breached=1&page=4&q="
    )

    assert (view.name, view.query) == ("My breached", "tab=mine&sla_breached=1")
    event = AuditEvent.objects.get(action=AuditAction.SAVED_VIEW_CREATED)
    assert (event.actor_id, event.object_id) == (world["ana"].pk, str(view.pk))
    assert event.after == {"name": "My breached", "query": "tab=mine&sla_breached=1"}


def test_a_name_is_unique_per_user_but_not_across_users(world):
    saved.saved_view_create(actor=world["ana"], name="Breached", query="sla_breached=1")

    with pytest.raises(InvalidInput, match="already have a saved view named 'Breached'"):
        saved.saved_view_create(actor=world["ana"], name="Breached", query="tab=mine")
    saved.saved_view_create(actor=world["lead"], name="Breached", query="tab=all")

    assert sorted(SavedQueueView.objects.values_list("user__username", "query")) == [
        ("ana", "sla_breached=1"), ("lea", "tab=all"),
    ]  # fmt: skip
    refusal = AuditEvent.objects.get(action=AuditAction.REFUSED)
    assert refusal.actor_id == world["ana"].pk


def test_a_user_cannot_delete_someone_elses_view(world):
    theirs = saved.saved_view_create(actor=world["lead"], name="Mine", query="tab=mine")

    with pytest.raises(NotFound):
        saved.saved_view_delete(actor=world["ana"], view_id=theirs.pk)

    assert SavedQueueView.objects.filter(pk=theirs.pk).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.SAVED_VIEW_DELETED).exists()


def test_the_page_lists_my_views_saves_the_current_one_and_deletes(client, world):
    signed_in(client, world["ana"])
    saved.saved_view_create(actor=world["lead"], name="Lead's view", query="tab=all")

    response = client.post(
        reverse("queue-view-save"),
        {"name": "High, breached", "query": f"tab=unassigned&queue={world['high'].pk}&sla_breached=1&page=2"},
        follow=True,
    )  # fmt: skip

    text = response.content.decode()
    view = SavedQueueView.objects.get(user=world["ana"])
    assert view.query == f"tab=unassigned&queue={world['high'].pk}&sla_breached=1"
    assert (
        f'<a href="?tab=unassigned&amp;queue={world["high"].pk}&amp;sla_breached=1" data-saved-view="High, breached">'
        in text
    )
    assert "Lead&#x27;s view" not in text
    assert shown(response) == [world["breached"].pk]  # back on the saved list

    client.post(reverse("queue-view-delete", args=[view.pk]), follow=True)

    assert not SavedQueueView.objects.filter(user=world["ana"]).exists()
    assert AuditEvent.objects.filter(action=AuditAction.SAVED_VIEW_DELETED).count() == 1


# --- bulk: several tags, several reason codes -----------------------------------------------------


def test_bulk_tagging_adds_several_tags_at_once(client, world):
    signed_in(client, world["ana"])
    picked = [world["in_general"], world["breached"]]

    response = client.post(
        reverse("case-bulk"),
        {"action": "tag", "case_ids": [c.pk for c in picked], "tag": "Mule, crypto  card-testing"},
        follow=True,
    )

    for case in picked:
        assert sorted(case.tags.values_list("name", flat=True)) == [
            "card-testing",
            "crypto",
            "mule",
        ]
    assert "tagged mule, crypto, card-testing." in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.CASE_TAGGED).count() == 2


def test_bulk_close_takes_several_reason_codes(client, world):
    make_reason_codes()
    signed_in(client, world["ana"])
    picked = [world["in_general"], world["breached"]]

    client.post(
        reverse("case-bulk"),
        {"action": "close_false_positive", "case_ids": [c.pk for c in picked],
         "reason_code": ["customer-confirmed", "insufficient-evidence"], "comment": "Known payee."},
        follow=True,
    )  # fmt: skip

    for case in picked:
        case.refresh_from_db()
        assert case.status == CaseStatus.CLOSED
        assert sorted(case.reason_codes.values_list("code", flat=True)) == [
            "customer-confirmed", "insufficient-evidence",
        ]  # fmt: skip
    closing = AuditEvent.objects.filter(action=AuditAction.CASE_CLOSED).first()
    assert closing.after["reason_codes"] == ["customer-confirmed", "insufficient-evidence"]


def test_bulk_close_service_with_several_codes_refuses_a_misfit_for_each_case(world):
    make_reason_codes()

    outcome = services.cases_bulk_close_false_positive(
        actor=world["ana"], case_ids=[world["in_general"].pk],
        reason_codes=["customer-confirmed", "card-compromised"], comment="x",
    )  # fmt: skip

    assert outcome.changed == []
    assert outcome.refusals == [
        "reason code(s) card-compromised do not fit the resolution false_positive"
    ]
    assert Case.objects.get(pk=world["in_general"].pk).status == CaseStatus.OPEN
