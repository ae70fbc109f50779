"""The audit trail: hash chain, append-only in the database, verification, export, admin, KPIs."""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from cases.accounts.roles import Role
from cases.audit.export import CSV_COLUMNS, audit_export_csv
from cases.audit.selectors import audit_chain_verify, case_kpis
from cases.audit.trail import (
    GENESIS_HASH,
    audit_record,
    audit_record_many,
    event_hash,
    reset_request_context,
    set_request_context,
    system_actor,
)
from cases.clock import database_now
from cases.errors import ActionNotPermitted, InvalidInput
from cases.models import AuditAction, AuditEvent
from conftest import BASE_DIR, signed_in, subprocess_env

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- builders -------------------------------------------------------------------------------


def make_user(username: str, *roles: str, staff: bool = False):
    user = get_user_model().objects.create_user(
        username, password="a-long-test-password", is_staff=staff
    )
    user.groups.add(*Group.objects.filter(name__in=roles))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def append_event(*, at: datetime, action, actor=None, case_id=None, **fields) -> AuditEvent:
    """An event at a chosen time, chained exactly as audit_record chains it."""
    if case_id is not None:
        fields.update(object_type="cases.case", object_id=str(case_id))
    previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    event = AuditEvent(
        occurred_at=at,
        actor=actor,
        actor_name=actor.get_username() if actor else "anonymous",
        action=action,
        previous_hash=previous or GENESIS_HASH,
        **fields,
    )
    event.hash = event_hash(event)
    event.save(force_insert=True)
    return event


def record_notes(count: int, actor=None) -> list[AuditEvent]:
    return [
        audit_record(
            actor=actor,
            action=AuditAction.NOTE_ADDED,
            object_type="cases.case",
            object_id=index,
            after={"text": f"note {index}", "amount": "12.50"},
        )
        for index in range(1, count + 1)
    ]


def actions_after(event_id: int) -> list[str]:
    return list(AuditEvent.objects.filter(id__gt=event_id).values_list("action", flat=True))


def last_event_id() -> int:
    """Where the trail ends now (signing in records events of its own)."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@contextlib.contextmanager
def user_triggers_disabled():
    """Tampering behind the app's back, as the table owner could."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE cases_auditevent DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            cursor.execute("ALTER TABLE cases_auditevent ENABLE TRIGGER USER")


@pytest.fixture
def committed_trail(transactional_db):
    """Five committed events; emptied afterwards (triggers off) so the test flush can run."""
    yield record_notes(5)
    with user_triggers_disabled() as cursor:
        cursor.execute("DELETE FROM cases_auditevent")


# --- the chain ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_event_links_to_the_one_before_and_hashes_its_own_content():
    first, second, third = record_notes(3)

    stored = list(AuditEvent.objects.order_by("id"))

    assert [event.pk for event in stored] == [first.pk, second.pk, third.pk]
    assert stored[0].previous_hash == GENESIS_HASH
    assert stored[1].previous_hash == stored[0].hash
    assert stored[2].previous_hash == stored[1].hash
    assert all(event_hash(event) == event.hash for event in stored)
    assert len({event.hash for event in stored}) == 3


@pytest.mark.django_db
def test_verify_audit_says_ok_with_the_count_on_an_intact_chain():
    record_notes(3)
    out = io.StringIO()

    call_command("verify_audit", "--batch-size", "2", stdout=out)

    assert out.getvalue().strip() == "OK: audit trail intact, 3 event(s) checked"
    assert audit_chain_verify(batch_size=2).events_checked == 3


@pytest.mark.django_db
def test_verify_reports_progress_per_batch():
    record_notes(5)
    seen: list[int] = []

    report = audit_chain_verify(batch_size=2, progress=seen.append)

    assert report.ok and report.events_checked == 5
    assert seen == [2, 2, 1]


# --- append-only in the database ------------------------------------------------------------


def _orm_update(event):
    AuditEvent.objects.filter(pk=event.pk).update(after={"text": "rewritten"})


def _orm_save(event):
    event.after = {"text": "rewritten"}
    event.save()


def _orm_delete(event):
    AuditEvent.objects.filter(pk=event.pk).delete()


def _sql(statement):
    def run(event):
        with connection.cursor() as cursor:
            cursor.execute(statement, {"id": event.pk})

    return run


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        _orm_update,
        _orm_save,
        _orm_delete,
        _sql("""UPDATE cases_auditevent SET after = '{"text": "rewritten"}' WHERE id = %(id)s"""),
        _sql("DELETE FROM cases_auditevent WHERE id = %(id)s"),
        # The test's own inserts leave deferred FK checks pending, which TRUNCATE would refuse
        # for its own reason: run them first so the trigger is what answers.
        _sql("SET CONSTRAINTS ALL IMMEDIATE; TRUNCATE cases_auditevent"),
    ],
    ids=["orm-update", "orm-save", "orm-delete", "sql-update", "sql-delete", "sql-truncate"],
)
def test_the_database_refuses_to_change_or_remove_audit_events(tamper):
    events = record_notes(2)

    with pytest.raises(DatabaseError, match="audit events are append-only"):
        with transaction.atomic():
            tamper(events[0])

    assert AuditEvent.objects.count() == 2
    assert AuditEvent.objects.get(pk=events[0].pk).after == {"text": "note 1", "amount": "12.50"}


@pytest.mark.django_db
def test_deleting_a_user_named_in_the_trail_leaves_the_trail_untouched():
    analyst = make_user("ana", Role.ANALYST)
    record_notes(1, actor=analyst)
    event = AuditEvent.objects.filter(actor_id=analyst.pk).last()

    analyst.delete()

    assert not get_user_model().objects.filter(pk=analyst.pk).exists()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert (kept.actor_id, kept.actor_name, kept.hash) == (event.actor_id, "ana", event.hash)
    assert audit_chain_verify().ok


# --- tampering behind the app's back ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_event_edited_in_place_is_caught_as_altered(committed_trail):
    altered = committed_trail[2]
    with user_triggers_disabled() as cursor:
        cursor.execute(
            """UPDATE cases_auditevent SET after = '{"text": "nothing to see"}' WHERE id = %s""",
            [altered.pk],
        )

    report = audit_chain_verify(batch_size=2)

    assert not report.ok
    assert report.first_bad_event_id == altered.pk
    assert report.events_checked == 3
    assert report.first_bad_event_at == altered.occurred_at
    assert report.problem == (
        f"event {altered.pk} was altered (its hash does not match its content)"
    )
    with pytest.raises(CommandError, match=f"BROKEN at event {altered.pk} .*was altered"):
        call_command("verify_audit", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_deleted_event_breaks_the_link_of_the_next_and_the_command_exits_1(committed_trail):
    removed, next_event = committed_trail[1], committed_trail[2]
    with user_triggers_disabled() as cursor:
        cursor.execute("DELETE FROM cases_auditevent WHERE id = %s", [removed.pk])

    report = audit_chain_verify()

    assert not report.ok
    assert report.first_bad_event_id == next_event.pk
    assert report.problem.startswith(
        f"the link before event {next_event.pk} is broken: an event is missing or was altered"
    )
    command = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--no-progress"],
        cwd=BASE_DIR, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert command.returncode == 1, command.stderr
    assert f"BROKEN at event {next_event.pk} (recorded {next_event.occurred_at.isoformat()})" in (
        command.stderr
    )
    assert command.stdout == ""


@pytest.mark.django_db(transaction=True)
def test_an_edit_with_a_recomputed_hash_is_caught_at_the_next_link(committed_trail):
    forged = AuditEvent.objects.get(pk=committed_trail[1].pk)
    forged.after = {"text": "forged"}
    with user_triggers_disabled() as cursor:
        cursor.execute(
            "UPDATE cases_auditevent SET after = %s::jsonb, hash = %s WHERE id = %s",
            ['{"text": "forged"}', event_hash(forged), forged.pk],
        )

    report = audit_chain_verify()

    assert report.first_bad_event_id == committed_trail[2].pk
    assert "is broken: an event is missing or was altered" in report.problem


@pytest.mark.django_db(transaction=True)
def test_removing_the_first_event_is_caught_against_the_genesis_hash(committed_trail):
    with user_triggers_disabled() as cursor:
        cursor.execute("DELETE FROM cases_auditevent WHERE id = %s", [committed_trail[0].pk])

    report = audit_chain_verify()

    assert report.first_bad_event_id == committed_trail[1].pk
    assert report.events_checked == 1
    assert "genesis" in report.problem


@pytest.mark.django_db
@pytest.mark.parametrize("client_ip", ["::ffff:10.0.0.1", "2001:DB8::1", "203.0.113.9"])
def test_events_from_any_spelling_of_a_client_ip_verify_once_read_back(client_ip):
    """The hash covers the address as the database gives it back (Python 3.11 alone would
    spell ::ffff:10.0.0.1 as ::ffff:a00:1 and the chain would not verify)."""
    token = set_request_context(request_id="req-1", client_ip=client_ip)
    try:
        event = audit_record(actor=system_actor(), action=AuditAction.NOTE_ADDED, object_repr="x")
    finally:
        reset_request_context(token)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert event_hash(stored) == stored.hash
    assert audit_chain_verify().ok


@pytest.mark.django_db
@pytest.mark.parametrize("client_ip", [None, "::ffff:10.0.0.1", "203.0.113.9"])
def test_many_events_at_once_extend_the_chain_in_order_and_verify_once_read_back(client_ip):
    """audit_record_many (ingest opening cases) writes with COPY: ids follow the chain, the
    JSON and the client IP read back exactly as they were hashed."""
    user = get_user_model().objects.create_user("copy-writer")
    first = audit_record(actor=user, action=AuditAction.NOTE_ADDED, object_repr="before")
    token = set_request_context(request_id="req-many", client_ip=client_ip)
    try:
        audit_record_many(
            actor=user,
            action=AuditAction.CASE_OPENED,
            entries=[
                {"obj": user, "after": {"n": n, "text": 'quote " \\ tab\t é', "when": timezone.now(),
                                        "nested": {"list": [1, 2.5, None]}}}
                for n in range(25)
            ],
        )  # fmt: skip
    finally:
        reset_request_context(token)
    audit_record(actor=user, action=AuditAction.NOTE_ADDED, object_repr="after")

    events = list(AuditEvent.objects.filter(id__gt=first.pk).order_by("id"))
    assert [event.action for event in events] == [AuditAction.CASE_OPENED] * 25 + [
        AuditAction.NOTE_ADDED
    ]
    assert [event.after["n"] for event in events[:25]] == list(range(25))
    assert events[0].previous_hash == first.hash
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.previous_hash == earlier.hash
    assert all(event_hash(event) == event.hash for event in events)
    assert events[3].actor_id == user.pk and events[3].request_id == "req-many"
    assert audit_chain_verify().ok


# --- CSV export -----------------------------------------------------------------------------


# Each event in its own transaction: events are timed by the database's transaction clock.
@pytest.mark.django_db(transaction=True)
def test_export_writes_exact_columns_neutralises_formulas_and_audits_itself():
    auditor = make_user("audrey", Role.AUDITOR)
    attacker = make_user("@sum", Role.ANALYST)  # Django usernames may start with @, + or -
    start = database_now()  # after the users' own events
    token = set_request_context(request_id="=cmd|' /C calc'!A0", client_ip="203.0.113.9")
    try:
        risky = audit_record(
            actor=attacker, action=AuditAction.NOTE_ADDED, object_type="cases.case",
            object_id="-1", object_repr='=HYPERLINK("http://evil.example","x")',
            after={"text": "+1"},
        )  # fmt: skip
    finally:
        reset_request_context(token)
    quoted = audit_record(actor=attacker, action=AuditAction.NOTE_ADDED, object_repr="'already")
    control = audit_record(actor=attacker, action=AuditAction.NOTE_ADDED, object_repr="\tx\r=y")
    plain = audit_record(actor=auditor, action=AuditAction.CASE_OPENED, object_repr="FC-000001")
    now = timezone.now()
    output = io.StringIO(newline="")

    rows_written = audit_export_csv(
        actor=auditor, start=start, end=now + timedelta(hours=1), output=output
    )

    header, *rows = csv_rows(output.getvalue())
    assert tuple(header) == CSV_COLUMNS == (
        "id", "occurred_at", "actor_name", "action", "object_type", "object_id", "object_repr",
        "before", "after", "request_id", "client_ip", "previous_hash", "hash",
    )  # fmt: skip
    assert rows_written == len(rows) == 4
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    assert list(by_id) == [risky.pk, quoted.pk, control.pk, plain.pk]
    assert by_id[risky.pk] == {
        "id": str(risky.pk),
        "occurred_at": risky.occurred_at.isoformat(),
        "actor_name": "'@sum",
        "action": "note_added",
        "object_type": "cases.case",
        "object_id": "'-1",
        "object_repr": '\'=HYPERLINK("http://evil.example","x")',
        "before": "",
        "after": '{"text": "+1"}',
        "request_id": "'=cmd|' /C calc'!A0",
        "client_ip": "203.0.113.9",
        "previous_hash": risky.previous_hash,
        "hash": risky.hash,
    }
    assert by_id[quoted.pk]["object_repr"] == "''already"
    assert by_id[control.pk]["object_repr"] == "'\tx\r=y"
    assert by_id[plain.pk]["object_repr"] == "FC-000001"
    assert by_id[plain.pk]["actor_name"] == "audrey"
    exported = AuditEvent.objects.latest("id")
    assert exported.action == AuditAction.AUDIT_EXPORTED
    assert exported.actor_id == auditor.pk
    assert exported.after == {
        "start": start.isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "rows": 4,
    }
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_an_analyst_may_not_export_and_the_refusal_is_audited():
    analyst = make_user("ana", Role.ANALYST)
    mark = last_event_id()
    record_notes(2)
    output = io.StringIO()

    with pytest.raises(ActionNotPermitted, match="export_audit"):
        audit_export_csv(actor=analyst, start=T0, end=T0 + timedelta(days=1), output=output)

    assert output.getvalue() == ""
    refusal = AuditEvent.objects.latest("id")
    assert refusal.action == AuditAction.PERMISSION_DENIED
    assert refusal.actor_id == analyst.pk
    assert refusal.after["attempted"] == "export the audit trail"
    assert refusal.after["error"] == "permission_denied"
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).exists()
    assert AuditEvent.objects.filter(id__gt=mark).count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T0 + timedelta(days=1), T0, "reversed"),
        (T0, T0, "empty or reversed"),
        (T0.replace(tzinfo=None), T0 + timedelta(days=1), "time zone"),
    ],
    ids=["reversed", "empty", "naive"],
)
def test_a_bad_range_is_refused_audited_and_exports_nothing(start, end, message):
    auditor = make_user("audrey", Role.AUDITOR)
    mark = last_event_id()
    output = io.StringIO()

    with pytest.raises(InvalidInput, match=message):
        audit_export_csv(actor=auditor, start=start, end=end, output=output)

    assert output.getvalue() == ""
    refusal = AuditEvent.objects.get(id__gt=mark)
    assert refusal.action == AuditAction.REFUSED
    assert refusal.after["error"] == "invalid_input"


# --- pages ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_pages_require_sign_in(client):
    for url in (
        reverse("audit-trail"),
        reverse("audit-export") + "?start=2026-03-01&end=2026-03-02",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_export_view_streams_the_days_asked_for_as_an_attachment(client):
    auditor = make_user("audrey", Role.AUDITOR)
    for at in (
        datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 23, 59, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    ):
        append_event(at=at, action=AuditAction.NOTE_ADDED, case_id=1)
    notes = AuditEvent.objects.filter(action=AuditAction.NOTE_ADDED).order_by("id")
    inside = list(notes.values_list("id", flat=True))[1:3]

    response = signed_in(client, auditor).get(
        reverse("audit-export"), {"start": "2026-03-01", "end": "2026-03-02"}
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="fraudcase-audit-2026-03-01-to-2026-03-02.csv"'
    )
    header, *rows = csv_rows(b"".join(response.streaming_content).decode())
    assert tuple(header) == CSV_COLUMNS
    assert [int(row[0]) for row in rows] == inside
    exported = AuditEvent.objects.latest("id")
    assert exported.action == AuditAction.AUDIT_EXPORTED
    assert exported.after == {
        "start": "2026-03-01T00:00:00+00:00", "end": "2026-03-03T00:00:00+00:00", "rows": 2,
    }  # fmt: skip
    assert exported.client_ip == "127.0.0.1" and exported.request_id


@pytest.mark.django_db
def test_export_view_refuses_an_analyst_with_a_403_page(client):
    analyst = make_user("ana", Role.ANALYST)
    signed_in(client, analyst)
    mark = last_event_id()

    response = client.get(reverse("audit-export"), {"start": "2026-03-01", "end": "2026-03-02"})

    assert response.status_code == 403
    assert "ana may not export the audit trail" in response.content.decode()
    assert actions_after(mark) == [AuditAction.PERMISSION_DENIED]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "message", "audited"),
    [
        ({"start": "2026-13-01", "end": "2026-03-02"}, "start must be a date as YYYY-MM-DD", False),
        ({"start": "2026-03-01"}, "end is required (YYYY-MM-DD)", False),
        ({"start": "2026-03-01", "end": "9999-12-31"}, "end 9999-12-31 is out of range", False),
        ({"start": "2026-03-05", "end": "2026-03-01"}, "the range is empty or reversed", True),
    ],
    ids=["bad-date", "missing-end", "end-of-calendar", "reversed"],
)
def test_export_view_answers_a_bad_range_with_400_and_a_clear_message(
    client, query, message, audited
):
    auditor = make_user("audrey", Role.AUDITOR)
    signed_in(client, auditor)
    mark = last_event_id()

    response = client.get(reverse("audit-export"), query)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert actions_after(mark) == ([AuditAction.REFUSED] if audited else [])


@pytest.mark.django_db
def test_audit_page_shows_filtered_events_escaped_kpis_and_the_export_form(client):
    auditor = make_user("audrey", Role.AUDITOR)
    append_event(at=T0, action=AuditAction.CASE_OPENED, case_id=7, object_repr="<b>FC-7</b>")
    append_event(
        at=T0 + timedelta(minutes=5), action=AuditAction.NOTE_ADDED, case_id=7, actor=auditor,
        after={"text": "<script>alert(1)</script>"},
    )  # fmt: skip
    signed_in(client, auditor)

    page = client.get(reverse("audit-trail")).content.decode()
    notes_only = client.get(reverse("audit-trail"), {"action": "note_added"}).content.decode()

    assert "&lt;b&gt;FC-7&lt;/b&gt;" in page and "<b>FC-7</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Time to first touch" in page and "<td>5 min</td>" in page
    assert f'action="{reverse("audit-export")}"' in page
    assert "Case opened" in page
    assert "Case opened</td>" not in notes_only and "Note added</td>" in notes_only


@pytest.mark.django_db
def test_audit_page_refuses_an_analyst_and_audits_it(client):
    analyst = make_user("ana", Role.ANALYST)
    signed_in(client, analyst)
    mark = last_event_id()

    response = client.get(reverse("audit-trail"))

    assert response.status_code == 403
    assert actions_after(mark) == [AuditAction.PERMISSION_DENIED]
    refusal = AuditEvent.objects.latest("id")
    assert refusal.action == AuditAction.PERMISSION_DENIED
    assert refusal.after["attempted"] == "read the audit trail"


# --- admin ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_shows_the_trail_read_only_to_an_auditor(client):
    auditor = make_user("audrey", Role.AUDITOR, staff=True)
    event = audit_record(
        actor=auditor, action=AuditAction.NOTE_ADDED, object_type="cases.case", object_id=3,
        before={"status": "open"}, after={"status": "in_review"},
    )  # fmt: skip
    signed_in(client, auditor)

    changelist = client.get(reverse("admin:cases_auditevent_changelist"))
    detail = client.get(reverse("admin:cases_auditevent_change", args=[event.pk]))

    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == AuditEvent.objects.count()
    assert event in changelist.context["cl"].result_list
    assert not changelist.context["has_add_permission"]
    assert reverse("admin:cases_auditevent_add") not in changelist.content.decode()
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "<pre>{\n  &quot;status&quot;: &quot;in_review&quot;\n}</pre>" in body
    assert 'name="_save"' not in body
    assert reverse("admin:cases_auditevent_delete", args=[event.pk]) not in body
    assert client.get(reverse("admin:cases_auditevent_add")).status_code == 403
    delete_url = reverse("admin:cases_auditevent_delete", args=[event.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_admin_hides_the_trail_from_staff_without_view_auditevent(client):
    lead = make_user("leo", Role.LEAD, staff=True)

    response = signed_in(client, lead).get(reverse("admin:cases_auditevent_changelist"))

    assert response.status_code == 403


# --- KPIs -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_case_kpis_from_hand_made_events_with_set_times():
    system, lead = system_actor(), make_user("leo", Role.LEAD)
    analyst = make_user("ana", Role.ANALYST)

    def at(minutes):
        return T0 + timedelta(minutes=minutes)

    # Opened the day before: outside the window below.
    append_event(at=at(-24 * 60), action=AuditAction.CASE_OPENED, case_id=104, actor=system)
    append_event(at=at(-24 * 60 + 1), action=AuditAction.CASE_STATUS_CHANGED, case_id=104, actor=analyst)  # fmt: skip
    for case_id in (101, 102, 103):
        append_event(at=at(0), action=AuditAction.CASE_OPENED, case_id=case_id, actor=system)
    for case_id in (101, 102, 103):  # auto-assignment by the system is not a touch
        append_event(at=at(1), action=AuditAction.CASE_ASSIGNED, case_id=case_id, actor=system)
    append_event(at=at(2), action=AuditAction.CASE_STATUS_CHANGED, case_id=102)  # anonymous
    append_event(
        at=at(10), action=AuditAction.TRANSACTION_DECIDED, actor=analyst,
        object_type="cases.transaction", object_id="9", after={"decision": "block", "case_id": "102"},
    )  # fmt: skip
    append_event(at=at(15), action=AuditAction.CASE_TAGGED, case_id=101, actor=analyst)
    append_event(at=at(20), action=AuditAction.CASE_ASSIGNED, case_id=103, actor=lead)
    append_event(at=at(30), action=AuditAction.CASE_STATUS_CHANGED, case_id=101, actor=analyst)
    append_event(at=at(40), action=AuditAction.CASE_ASSIGNED, case_id=103, actor=lead)
    append_event(at=at(120), action=AuditAction.CASE_ASSIGNED, case_id=101, actor=lead)
    append_event(at=at(120), action=AuditAction.CASE_CLOSED, case_id=103, actor=analyst)
    append_event(at=at(300), action=AuditAction.CASE_CLOSED, case_id=101, actor=analyst)

    day = case_kpis(since=datetime(2026, 3, 2, tzinfo=UTC), until=datetime(2026, 3, 3, tzinfo=UTC))
    all_time = case_kpis()

    minutes = timedelta(minutes=1)
    assert day["cases_opened"] == 3
    # First touches: 101 at 30 min, 102 at 10 min (its decision), 103 at 20 min.
    assert day["time_to_first_touch"] == {
        "count": 3, "median": 20 * minutes, "p90": 28 * minutes, "mean": 20 * minutes,
    }  # fmt: skip
    # Closes: 101 after 5 h, 103 after 2 h; 102 still open.
    assert day["time_to_close"] == {
        "count": 2, "median": 210 * minutes, "p90": 282 * minutes, "mean": 210 * minutes,
    }  # fmt: skip
    # Reassignments: 101 once, 102 never, 103 twice.
    assert day["reassignments"] == {
        "count": 3, "median": 1.0, "p90": pytest.approx(1.8), "mean": 1.0,
        "total": 3, "cases_reassigned": 2,
    }  # fmt: skip
    assert all_time["cases_opened"] == 4
    assert all_time["time_to_first_touch"]["count"] == 4
    assert all_time["time_to_first_touch"]["median"] == 15 * minutes


@pytest.mark.django_db
def test_case_kpis_on_an_empty_trail_have_nothing_to_measure():
    kpis = case_kpis()

    assert kpis["cases_opened"] == 0
    assert kpis["time_to_close"] == {"count": 0, "median": None, "p90": None, "mean": None}
    assert kpis["reassignments"]["total"] == 0
