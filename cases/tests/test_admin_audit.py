"""Changes to users, groups, permissions, queues, reason codes and devices reach the trail from
any page (the admin above all) with before/after and the actor; services still write one event."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.accounts.roles import Role
from cases.accounts.users import user_create, user_set_roles
from cases.audit.model_changes import ensure_roles_recorded
from cases.audit.selectors import audit_chain_verify
from cases.audit.trail import system_actor
from cases.models import AuditAction, AuditEvent, Queue, ReasonCode
from cases.workflow.services.queues import queue_save, reason_code_save
from conftest import client_for

PASSWORD = "a-long-test-password"
SYSTEM = "system (FraudCase system)"  # the system user as the trail names it
DEVICE_KEY = "3132333435363738393031323334353637383930"


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def root_client(root):
    return client_for(root)  # a verified second factor, as the admin requires


@pytest.fixture
def ana(db):
    user = get_user_model().objects.create_user("ana", password=PASSWORD, email="ana@example.org")
    user.groups.add(Group.objects.get(name=Role.ANALYST))
    return user


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_after(event_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=event_id).order_by("id"))


def summary(events: list[AuditEvent]) -> list[tuple]:
    return [(e.action, e.object_type, e.actor_name, e.before, e.after) for e in events]


def user_form(user, **changes) -> dict:
    """The admin's user change form as the browser posts it, with changes."""
    joined = timezone.localtime(user.date_joined)
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": [group.pk for group in user.groups.all()],
        "user_permissions": [perm.pk for perm in user.user_permissions.all()],
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        "_save": "Save",
    }
    data.update(changes)
    return {
        key: ("on" if value is True else value) for key, value in data.items() if value is not False
    }


def assert_chain_verifies() -> None:
    assert audit_chain_verify().ok
    out = io.StringIO()
    call_command("verify_audit", "--no-progress", "--no-anchors", stdout=out)
    assert out.getvalue().startswith("OK: audit trail intact")


# --- the admin ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_granting_a_group_staff_and_superuser_in_the_admin_is_recorded_with_the_admin_as_actor(
    root_client, ana
):
    mark = last_event_id()
    lead = Group.objects.get(name=Role.LEAD)

    response = root_client.post(
        f"/admin/auth/user/{ana.pk}/change/",
        user_form(
            ana,
            is_staff=True,
            is_superuser=True,
            groups=[lead.pk, *ana.groups.values_list("pk", flat=True)],
        ),
        REMOTE_ADDR="203.0.113.7",
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    events = events_after(mark)
    assert summary(events) == [
        (AuditAction.USER_CHANGED, "auth.user", "root",
         {"is_staff": False, "is_superuser": False}, {"is_staff": True, "is_superuser": True}),
        (AuditAction.USER_CHANGED, "auth.user", "root",
         {"groups": ["analyst"]}, {"groups": ["analyst", "lead"]}),
    ]  # fmt: skip
    root = get_user_model().objects.get(username="root")
    assert {(e.actor_id, e.object_id, e.object_repr, e.client_ip) for e in events} == {
        (root.pk, str(ana.pk), "ana", "203.0.113.7")
    }
    assert all(e.request_id for e in events)
    assert_chain_verifies()


@pytest.mark.django_db
def test_saving_the_admin_form_unchanged_records_nothing(root_client, ana):
    mark = last_event_id()

    response = root_client.post(f"/admin/auth/user/{ana.pk}/change/", user_form(ana))

    assert response.status_code == 302
    assert events_after(mark) == []


@pytest.mark.django_db
def test_a_password_set_in_the_admin_is_recorded_as_changed_never_as_its_hash(root_client, ana):
    old_hash = ana.password
    mark = last_event_id()

    response = root_client.post(
        f"/admin/auth/user/{ana.pk}/password/",
        {"password1": "another-long-password-9", "password2": "another-long-password-9",
         "usable_password": "true"},
    )  # fmt: skip

    assert response.status_code == 302, response.content.decode()[:2000]
    ana.refresh_from_db()
    assert ana.password != old_hash
    assert summary(events_after(mark)) == [
        (AuditAction.USER_CHANGED, "auth.user", "root", {}, {"password_changed": True})
    ]
    stored = json.dumps([[e.before, e.after] for e in AuditEvent.objects.all()])
    assert old_hash not in stored and ana.password not in stored
    assert "pbkdf2" not in stored


@pytest.mark.django_db
def test_deleting_a_user_in_the_admin_records_the_user_as_it_was_and_its_devices(root_client, ana):
    device = TOTPDevice.objects.create(user=ana, name="ana's phone", key=DEVICE_KEY, confirmed=True)
    queue = Queue.objects.create(name="cards")
    queue.members.add(ana)
    mark = last_event_id()

    response = root_client.post(f"/admin/auth/user/{ana.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not get_user_model().objects.filter(pk=ana.pk).exists()
    removed, deleted = events_after(mark)
    assert (removed.action, removed.object_id, removed.actor_name) == (
        AuditAction.OTP_DEVICE_REMOVED,
        str(device.pk),
        "root",
    )
    assert removed.before["user"] == "ana" and removed.before["name"] == "ana's phone"
    assert (deleted.action, deleted.object_type, deleted.object_id, deleted.object_repr) == (
        AuditAction.USER_DELETED,
        "auth.user",
        str(ana.pk),
        "ana",
    )
    assert deleted.actor_name == "root" and deleted.after is None
    assert deleted.before == {
        "username": "ana", "first_name": "", "last_name": "", "email": "ana@example.org",
        "is_superuser": False, "is_staff": False, "is_active": True,
        "groups": ["analyst"], "user_permissions": [], "queues": ["cards"],
    }  # fmt: skip
    assert_chain_verifies()


@pytest.mark.django_db
def test_editing_a_groups_permissions_in_the_admin_records_the_lists_before_and_after(root_client):
    auditor = Group.objects.get(name=Role.AUDITOR)
    before = sorted(
        f"cases.{codename}" for codename in auditor.permissions.values_list("codename", flat=True)
    )
    rerun = Permission.objects.get(content_type__app_label="cases", codename="rerun_ingest")
    mark = last_event_id()

    response = root_client.post(
        f"/admin/auth/group/{auditor.pk}/change/",
        {
            "name": auditor.name,
            "permissions": [*auditor.permissions.values_list("pk", flat=True), rerun.pk],
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert summary(events_after(mark)) == [
        (AuditAction.GROUP_CHANGED, "auth.group", "root",
         {"permissions": before}, {"permissions": sorted([*before, "cases.rerun_ingest"])}),
    ]  # fmt: skip
    assert_chain_verifies()


@pytest.mark.django_db
def test_adding_and_removing_a_totp_device_in_the_admin_is_recorded_without_its_key(
    root_client, ana
):
    mark = last_event_id()

    response = root_client.post(
        "/admin/otp_totp/totpdevice/add/",
        {"user": ana.pk, "name": "spare token", "confirmed": "on", "key": DEVICE_KEY, "step": 30,
         "t0": 0, "digits": 6, "tolerance": 1, "drift": 0, "throttling_failure_count": 0,
         "throttling_failure_timestamp_0": "", "throttling_failure_timestamp_1": "",
         "_save": "Save"},
    )  # fmt: skip

    assert response.status_code == 302, response.content.decode()[:3000]
    device = TOTPDevice.objects.get(user=ana)
    (added,) = events_after(mark)
    assert (added.action, added.object_type, added.object_id, added.actor_name) == (
        AuditAction.OTP_DEVICE_ADDED,
        "otp_totp.totpdevice",
        str(device.pk),
        "root",
    )
    assert added.after == {
        "user": "ana", "name": "spare token", "confirmed": True,
        "step": 30, "t0": 0, "digits": 6, "tolerance": 1,
    }  # fmt: skip

    mark = last_event_id()
    response = root_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert summary(events_after(mark)) == [
        (AuditAction.OTP_DEVICE_REMOVED, "otp_totp.totpdevice", "root", added.after, None)
    ]
    stored = json.dumps([[e.before, e.after] for e in AuditEvent.objects.all()])
    assert DEVICE_KEY not in stored
    assert_chain_verifies()


@pytest.mark.django_db
def test_a_new_key_for_a_device_is_recorded_as_changed_not_as_the_key(ana):
    device = TOTPDevice.objects.create(user=ana, name="phone", key=DEVICE_KEY, confirmed=False)
    mark = last_event_id()

    device.key = "ab" * 20
    device.confirmed = True
    device.save()

    assert summary(events_after(mark)) == [
        (AuditAction.OTP_DEVICE_CHANGED, "otp_totp.totpdevice", SYSTEM,
         {"confirmed": False}, {"confirmed": True, "key_changed": True}),
    ]  # fmt: skip


# --- what is not a change -------------------------------------------------------------------


@pytest.mark.django_db
def test_signing_in_and_checking_a_code_record_no_user_or_device_change(client, ana):
    device = TOTPDevice.objects.create(user=ana, name="phone", key=DEVICE_KEY, confirmed=True)
    mark = last_event_id()

    response = client.post("/auth/login/", {"username": "ana", "password": PASSWORD})
    assert response.status_code == 302
    assert device.verify_token(totp(device.bin_key))  # saves last_t and the throttle

    assert [e.action for e in events_after(mark)] == [AuditAction.SIGN_IN]


# --- outside the admin, outside requests ----------------------------------------------------


@pytest.mark.django_db
def test_queue_members_and_reason_codes_changed_outside_services_are_recorded_as_system(ana):
    queue = Queue.objects.create(name="cards", sla_hours=8)
    reason = ReasonCode.objects.create(code="stolen-card", label="Stolen card")
    mark = last_event_id()

    queue.members.add(ana)
    reason.label = "Card reported stolen"
    reason.save()
    queue.delete()
    reason.delete()

    events = events_after(mark)
    assert summary(events) == [
        (AuditAction.QUEUE_CHANGED, "cases.queue", SYSTEM,
         {"members": []}, {"members": ["ana"]}),
        (AuditAction.REASON_CODE_CHANGED, "cases.reasoncode", SYSTEM,
         {"label": "Stolen card"}, {"label": "Card reported stolen"}),
        (AuditAction.QUEUE_DELETED, "cases.queue", SYSTEM, events[2].before, None),
        (AuditAction.REASON_CODE_DELETED, "cases.reasoncode", SYSTEM,
         {"code": "stolen-card", "label": "Card reported stolen", "resolution": "",
          "active": True}, None),
    ]  # fmt: skip
    assert events[2].before["members"] == ["ana"] and events[2].before["sla_hours"] == 8
    assert {e.actor_id for e in events} == {system_actor().pk}
    assert_chain_verifies()


@pytest.mark.django_db
def test_a_membership_added_from_the_group_side_is_recorded_on_the_user(ana):
    mark = last_event_id()

    Group.objects.get(name=Role.LEAD).user_set.add(ana)

    assert summary(events_after(mark)) == [
        (AuditAction.USER_CHANGED, "auth.user", SYSTEM,
         {"groups": ["analyst"]}, {"groups": ["analyst", "lead"]}),
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_role_permission_taken_back_by_migrate_is_recorded(db):
    analyst = Group.objects.get(name=Role.ANALYST)
    extra = Permission.objects.get(content_type__app_label="cases", codename="rerun_ingest")
    analyst.permissions.add(extra)  # e.g. granted in the admin
    mark = last_event_id()

    ensure_roles_recorded()

    (event,) = events_after(mark)
    assert (event.action, event.object_repr, event.actor_name) == (
        AuditAction.GROUP_CHANGED,
        "analyst",
        SYSTEM,
    )
    assert event.before["permissions"] == sorted(
        [*event.after["permissions"], "cases.rerun_ingest"]
    )
    mark = last_event_id()
    ensure_roles_recorded()
    assert events_after(mark) == []


# --- services keep their own single event ---------------------------------------------------


@pytest.mark.django_db
def test_services_still_write_exactly_one_event_per_change(ana):
    mark = last_event_id()

    lead = user_create(
        actor=system_actor(), username="bea", password=PASSWORD, roles=[Role.ANALYST]
    )
    user_set_roles(actor=system_actor(), user_id=lead.pk, roles=[Role.LEAD])
    lead = get_user_model().objects.get(pk=lead.pk)  # fresh permission cache
    queue = queue_save(actor=lead, name="wires", sla_hours=4, member_ids=[ana.pk])
    queue_save(actor=lead, queue_id=queue.pk, sla_hours=6, member_ids=[ana.pk, lead.pk])
    reason_code_save(actor=lead, code="mule", label="Money mule")

    assert [e.action for e in events_after(mark)] == [
        AuditAction.USER_CREATED,
        AuditAction.USER_ROLES_CHANGED,
        AuditAction.QUEUE_CHANGED,
        AuditAction.QUEUE_CHANGED,
        AuditAction.REASON_CODE_CHANGED,
    ]
