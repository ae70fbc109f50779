"""Following cases, @mentions in notes, the notifications page and bell, and reminders when a
customer's reply is overdue (cases.watchers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from cases.audit.trail import system_actor
from cases.clock import database_now
from cases.errors import CaseNotVisible, InvalidInput
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, CaseWatcher, Notification
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.watchers import services as watchers
from cases.watchers.selectors import notifications_for, unread_notification_count
from cases.watchers.services import mentioned_usernames
from cases.workflow import services
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    ana, bob = make_user("ana", "analyst"), make_user("bob", "analyst")
    olga = make_user("olga", "analyst")  # another queue: may not read General's cases
    lead = make_user("lea", "lead")
    gone = make_user("gone", "analyst")
    gone.is_active = False
    gone.save()
    general = make_queue("General", ana, bob, gone)
    make_queue("Other", olga)
    case = make_case(general, status=CaseStatus.IN_REVIEW)
    return {"ana": ana, "bob": bob, "olga": olga, "lead": lead, "case": case}


def notices(user) -> list[tuple[str, str]]:
    return list(
        Notification.objects.filter(recipient=user).order_by("id").values_list("kind", "message")
    )


# --- mentions -----------------------------------------------------------------------------------


def test_mentions_are_read_from_the_text_in_order_once():
    body = "Ask @bob and @lea.\nmail me at ana@example.org; @bob again, `@code`? @o.k- (@x_1)"
    assert mentioned_usernames(body) == ["bob", "lea", "o.k", "x_1"]


def test_a_mention_notifies_whoever_may_read_the_case_and_no_one_else(world):
    ana, case = world["ana"], world["case"]

    note = services.case_add_note(
        actor=ana, case_id=case.pk,
        body="@bob please call the bank. cc @lea, @olga, @gone, @nosuchuser, @ana",
    )  # fmt: skip

    assert note.notices.mentioned == ["bob", "lea"]
    assert note.notices.not_notified == ["olga", "gone", "nosuchuser"]
    excerpt = "@bob please call the bank. cc @lea, @olga, @gone, @nosuchuser, @ana"
    assert notices(world["bob"]) == [
        ("mention", f"ana mentioned you on {case.reference}: {excerpt}")
    ]
    assert notices(world["lead"]) == [
        ("mention", f"ana mentioned you on {case.reference}: {excerpt}")
    ]
    assert notices(world["olga"]) == [] and notices(ana) == []
    event = AuditEvent.objects.get(action=AuditAction.NOTE_ADDED)
    assert event.after == {"note_id": note.pk, "body": excerpt, "mentioned": ["bob", "lea"]}


def test_followers_hear_of_new_notes_once_even_when_mentioned(world):
    ana, bob, lead, case = world["ana"], world["bob"], world["lead"], world["case"]
    watchers.case_follow(actor=bob, case_id=case.pk)
    watchers.case_follow(actor=lead, case_id=case.pk)
    watchers.case_follow(actor=ana, case_id=case.pk)  # the author hears nothing of their own

    note = services.case_add_note(actor=ana, case_id=case.pk, body="Customer called, @lea")

    assert notices(lead) == [
        ("mention", f"ana mentioned you on {case.reference}: Customer called, @lea")
    ]
    assert notices(bob) == [
        ("note", f"ana added a note to {case.reference}: Customer called, @lea")
    ]
    assert notices(ana) == []
    assert AuditEvent.objects.get(action=AuditAction.NOTE_ADDED).after == {
        "note_id": note.pk, "body": "Customer called, @lea", "mentioned": ["lea"],
        "followers_notified": ["bob"],
    }  # fmt: skip


# --- following ----------------------------------------------------------------------------------


def test_follow_is_idempotent_and_unfollow_audited(world):
    bob, case = world["bob"], world["case"]

    watchers.case_follow(actor=bob, case_id=case.pk)
    watchers.case_follow(actor=bob, case_id=case.reference)
    assert watchers.case_unfollow(actor=bob, case_id=case.pk) is True
    assert watchers.case_unfollow(actor=bob, case_id=case.pk) is False

    assert not CaseWatcher.objects.exists()
    assert list(
        AuditEvent.objects.filter(
            object_id=str(case.pk), action__in=["case_followed", "case_unfollowed"]
        )
        .order_by("id")
        .values_list("action", "before", "after")
    ) == [
        ("case_followed", None, {"follower": "bob"}),
        ("case_unfollowed", {"follower": "bob"}, None),
    ]


def test_a_case_one_may_not_read_cannot_be_followed(world):
    with pytest.raises(CaseNotVisible):
        watchers.case_follow(actor=world["olga"], case_id=world["case"].pk)

    assert not CaseWatcher.objects.exists()
    denial = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).last()
    assert (denial.actor_id, denial.after["error"]) == (world["olga"].pk, "not_visible")


# --- waiting on the customer, reminders -------------------------------------------------------------


def test_waiting_on_the_customer_has_a_reply_date_default_three_days(world, settings):
    settings.FRAUDCASE_CUSTOMER_REPLY_DAYS = 3
    before = database_now()

    case = services.case_transition(
        actor=world["ana"], case_id=world["case"].pk, to_status="waiting_on_customer"
    )

    assert before + timedelta(days=3) <= case.waiting_until <= database_now() + timedelta(days=3)
    back = services.case_transition(actor=world["ana"], case_id=case.pk, to_status="in_review")
    assert back.waiting_until is None
    with pytest.raises(InvalidInput, match="must be in the future"):
        services.case_transition(
            actor=world["ana"], case_id=case.pk, to_status="waiting_on_customer",
            waiting_until=database_now() - timedelta(minutes=1),
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="only a case waiting on the customer"):
        services.case_transition(
            actor=world["ana"], case_id=case.pk, to_status="escalated",
            waiting_until=database_now() + timedelta(days=1),
        )  # fmt: skip


def test_an_overdue_reply_reminds_assignee_and_followers_once(world):
    ana, bob, olga, case = world["ana"], world["bob"], world["olga"], world["case"]
    due = datetime(2026, 1, 5, 23, 59, tzinfo=UTC)
    Case.objects.filter(pk=case.pk).update(
        status=CaseStatus.WAITING_ON_CUSTOMER, waiting_until=due, assignee=ana
    )
    watchers.case_follow(actor=bob, case_id=case.pk)
    CaseWatcher.objects.create(case=case, user=olga)  # followed once, then moved queue: not told
    still_waiting = make_case(case.queue, status=CaseStatus.WAITING_ON_CUSTOMER, assignee=bob)
    Case.objects.filter(pk=still_waiting.pk).update(
        waiting_until=database_now() + timedelta(days=1)
    )

    first = watchers.case_reminders_send(actor=world["lead"])
    again = watchers.case_reminders_send(actor=world["lead"])

    assert (first, again) == (2, 0)
    message = (
        f"{case.reference} is waiting on the customer, whose reply was due 2026-01-05 23:59 UTC"
    )
    assert notices(ana) == [("reminder", message)] and notices(bob) == [("reminder", message)]
    assert notices(olga) == []
    [event] = AuditEvent.objects.filter(action=AuditAction.CASE_REMINDER_SENT)
    assert (event.object_id, event.after) == (
        str(case.pk), {"waiting_until": "2026-01-05T23:59:00Z", "recipients": ["ana", "bob"]},
    )  # fmt: skip


def test_a_new_reply_date_brings_a_new_reminder(world):
    case = world["case"]
    Case.objects.filter(pk=case.pk).update(
        status=CaseStatus.WAITING_ON_CUSTOMER, waiting_until=datetime(2026, 1, 5, tzinfo=UTC),
        assignee=world["ana"],
    )  # fmt: skip
    watchers.case_reminders_send(actor=world["lead"])
    Case.objects.filter(pk=case.pk).update(waiting_until=datetime(2026, 2, 1, tzinfo=UTC))

    assert watchers.case_reminders_send(actor=world["lead"]) == 1
    assert [kind for kind, _ in notices(world["ana"])] == ["reminder", "reminder"]


@pytest.mark.django_db(transaction=True)
def test_the_reminder_task_runs_in_a_real_worker(world, celery_worker_factory):
    from cases.watchers.tasks import remind_waiting_cases
    from conftest import wait_until

    Case.objects.filter(pk=world["case"].pk).update(
        status=CaseStatus.WAITING_ON_CUSTOMER, waiting_until=datetime(2026, 1, 5, tzinfo=UTC),
        assignee=world["ana"],
    )  # fmt: skip
    celery_worker_factory()

    remind_waiting_cases.delay()

    wait_until(lambda: notices(world["ana"]), timeout=60, message="the worker's reminder")
    assert [kind for kind, _ in notices(world["ana"])] == ["reminder"]
    event = AuditEvent.objects.get(action=AuditAction.CASE_REMINDER_SENT)
    assert event.actor_id == system_actor().pk


# --- pages: the bell, the list, marking read -----------------------------------------------------------


def test_the_bell_counts_unread_and_the_page_marks_read(world):
    bob, case = world["bob"], world["case"]
    services.case_add_note(actor=world["ana"], case_id=case.pk, body="@bob one")
    services.case_add_note(actor=world["ana"], case_id=case.pk, body="@bob two")
    client = client_for(bob)

    badge = client.get(reverse("notifications-badge")).json()
    listing = client.get(reverse("notifications")).content.decode()
    first, second = notifications_for(bob)  # newest first

    assert badge == {"unread": 2}
    assert listing.index("@bob two") < listing.index("@bob one")
    opened = client.post(reverse("notification-open", args=[first.pk]))
    assert opened.url == reverse("case-detail", args=[case.reference])
    assert unread_notification_count(bob) == 1
    client.post(reverse("notifications-read"))
    assert unread_notification_count(bob) == 0
    assert client.get(reverse("notifications-badge")).json() == {"unread": 0}
    assert second.pk != first.pk


def test_someone_elses_notification_cannot_be_opened_or_read(world):
    services.case_add_note(actor=world["ana"], case_id=world["case"].pk, body="@bob look")
    [theirs] = notifications_for(world["bob"])
    client = client_for(world["lead"])

    assert client.post(reverse("notification-open", args=[theirs.pk])).status_code == 404
    client.post(reverse("notifications-read"), {"id": theirs.pk})

    assert unread_notification_count(world["bob"]) == 1


def test_the_case_page_follows_unfollows_and_says_who_follows(world):
    client = client_for(world["bob"])
    case = world["case"]

    client.post(reverse("case-follow", args=[case.reference]))
    page = client.get(reverse("case-detail", args=[case.reference])).content.decode()

    assert "Followed by bob" in page and ">Unfollow</button>" in page
    client.post(reverse("case-unfollow", args=[case.reference]))
    assert not CaseWatcher.objects.exists()
