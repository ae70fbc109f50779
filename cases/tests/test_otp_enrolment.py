"""Enrolling an authenticator needs an admin's one-time code (or a code of a device one has):
the 2FA pages through the real test client, the services, the admin actions and the commands."""

import io
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.accounts.enrolment import (
    enrolment_code_hash,
    otp_devices_reset,
    otp_enrolment_issue,
)
from cases.accounts.roles import Role
from cases.errors import ActionNotPermitted, InvalidInput
from cases.models import AuditAction, OtpEnrolmentCode
from cases.tests.sign_in_fixtures import (
    CLIENT_IP,
    current_code,
    events,
    issue_code,
    make_user,
    sign_in,
    wrong_code,
)
from conftest import client_for

pytestmark = pytest.mark.django_db
TWO_FACTOR = "/auth/2fa/"


@pytest.fixture
def web():
    return Client(REMOTE_ADDR=CLIENT_IP)


@pytest.fixture(autouse=True)
def no_totp_backoff(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def give_code(web, code: str):
    return web.post(TWO_FACTOR, {"enrolment_code": code})


def enrol(web, user, code: str):
    """Enrolment code, then the new device's current code; returns (last response, device)."""
    assert give_code(web, code).status_code == 302
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    return web.post(TWO_FACTOR, {"otp_token": current_code(device)}), device


def refusals():
    return [
        (event.after["stage"], event.after["reason"])
        for event in events(AuditAction.OTP_ENROLMENT_REFUSED)
    ]


def test_a_password_alone_can_not_enrol_a_device(web):
    lead = make_user("lea", [Role.LEAD])
    sign_in(web, "lea")

    page = web.get(TWO_FACTOR).content.decode()
    # A TOTP code straight away (as the old page took) is not an enrolment code.
    skipped = web.post(TWO_FACTOR, {"otp_token": "123456"})
    guessed = give_code(web, "ABCD-EFGH-JKLM-NPQR")

    assert "Enrolment code from your admin" in page and "<svg" not in page
    assert skipped.status_code == 200 and "This field is required." in skipped.content.decode()
    assert guessed.status_code == 200
    assert "That enrolment code is not right" in guessed.content.decode()
    assert not TOTPDevice.objects.filter(user=lead).exists()
    assert web.get(reverse("home")).status_code == 302
    assert refusals() == [("enrolment_code", "unknown")]
    assert events(AuditAction.SIGN_IN_FAILED) == []  # the refusal is the one event
    assert AccessAttempt.objects.get(username="lea").failures_since_start == 1


def test_a_valid_code_enrols_once_and_is_spent_with_the_confirmation(web):
    lead = make_user("lea", [Role.LEAD])
    code = issue_code(lead)
    sign_in(web, "lea")

    accepted, device = enrol(web, lead, code)

    assert accepted.status_code == 302 and accepted.url == reverse("home")
    device.refresh_from_db()
    record = OtpEnrolmentCode.objects.get(user=lead)
    assert device.confirmed and record.used_at is not None
    assert record.code_hash == enrolment_code_hash(code) and code not in record.code_hash
    (confirmed,) = events(AuditAction.OTP_DEVICE_CONFIRMED)
    assert confirmed.after == {"device": "Authenticator app", "type": "totp",
                               "enrolment_code_id": record.pk}  # fmt: skip
    assert events(AuditAction.OTP_DEVICE_CHANGED) == []  # the confirmation is the one event

    # The same code again, after the device is reset: used.
    otp_devices_reset(actor=make_user("root", [Role.ADMIN]), user_id=lead.pk)
    again = Client(REMOTE_ADDR=CLIENT_IP)
    sign_in(again, "lea")
    refused = give_code(again, code)
    assert "That enrolment code was already used" in refused.content.decode()
    assert refusals() == [("enrolment_code", "used")]


def test_expired_voided_and_other_users_codes_are_refused(web):
    lead = make_user("lea", [Role.LEAD])
    other = make_user("otto", [Role.LEAD])
    voided = issue_code(lead)
    expired = issue_code(lead)  # voids the one before
    OtpEnrolmentCode.objects.filter(user=lead, voided_at=None).update(expires_at=timezone.now())
    ottos = issue_code(other)
    sign_in(web, "lea")

    pages = [give_code(web, code).content.decode() for code in (voided, expired, ottos)]

    assert "A newer enrolment code was issued since" in pages[0]
    assert "That enrolment code has expired" in pages[1]
    assert "That enrolment code is not right" in pages[2]
    assert refusals() == [
        ("enrolment_code", "voided"),
        ("enrolment_code", "expired"),
        ("enrolment_code", "unknown"),
    ]
    assert not TOTPDevice.objects.filter(user=lead).exists()


def test_a_code_that_expires_between_scan_and_confirmation_is_refused_at_confirmation(web):
    lead = make_user("lea", [Role.LEAD])
    code = issue_code(lead)
    sign_in(web, "lea")
    give_code(web, code)
    device = TOTPDevice.objects.get(user=lead, confirmed=False)
    OtpEnrolmentCode.objects.filter(user=lead).update(expires_at=timezone.now())

    refused = web.post(TWO_FACTOR, {"otp_token": current_code(device)})

    assert "That enrolment code has expired" in refused.content.decode()
    assert "Enrolment code from your admin" in refused.content.decode()  # asked again
    device.refresh_from_db()
    assert not device.confirmed
    assert refusals() == [("confirm", "expired")]
    assert events(AuditAction.OTP_DEVICE_CONFIRMED) == []


def test_refused_enrolment_codes_count_toward_the_lockout(web, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("lea", [Role.LEAD])
    sign_in(web, "lea")

    statuses = [give_code(web, f"WRONG-{n}").status_code for n in range(3)]

    assert statuses == [200, 200, 429]
    assert "_auth_user_id" not in web.session
    assert sign_in(web, "lea").status_code == 429
    assert "WRONG" not in AccessAttempt.objects.get(username="lea").post_data


def test_a_new_code_gives_a_new_secret_so_one_seen_before_is_worthless(web):
    lead = make_user("lea", [Role.LEAD])
    stale = TOTPDevice.objects.create(user=lead, name="left over", confirmed=False)
    old_key = stale.key
    sign_in(web, "lea")

    give_code(web, issue_code(lead))

    (pending,) = TOTPDevice.objects.filter(user=lead, confirmed=False)
    assert pending.key != old_key
    assert web.post(TWO_FACTOR, {"otp_token": current_code(stale)}).status_code == 200


def test_a_device_reset_makes_the_user_enrol_again(web):
    admin = make_user("root", [Role.ADMIN])
    lead = make_user("lea", [Role.LEAD])
    lead_web = client_for(lead)
    assert lead_web.get(reverse("home")).status_code == 200

    removed = otp_devices_reset(actor=admin, user_id=lead.pk)

    assert removed == 1 and not TOTPDevice.objects.filter(user=lead).exists()
    bounced = lead_web.get(reverse("home"))
    assert bounced.status_code == 302 and bounced.url.startswith(TWO_FACTOR)
    assert "Enrolment code from your admin" in lead_web.get(TWO_FACTOR).content.decode()
    (reset,) = events(AuditAction.OTP_DEVICES_RESET)
    assert reset.actor == admin and reset.object_id == str(lead.pk)
    assert reset.before == {"devices": ["test (confirmed)"]} and reset.after == {"devices": []}
    assert events(AuditAction.OTP_DEVICE_REMOVED) == []  # the reset is the one event
    with pytest.raises(InvalidInput, match="lea has no two-factor device to reset"):
        otp_devices_reset(actor=admin, user_id=lead.pk)


def test_only_admins_issue_codes_and_reset_devices():
    lead = make_user("lea", [Role.LEAD])
    TOTPDevice.objects.create(user=lead, name="phone", confirmed=True)

    with pytest.raises(ActionNotPermitted):
        otp_enrolment_issue(actor=lead, user_id=lead.pk, ttl=timedelta(hours=1))
    with pytest.raises(ActionNotPermitted):
        otp_devices_reset(actor=lead, user_id=lead.pk)

    assert not OtpEnrolmentCode.objects.exists()
    assert TOTPDevice.objects.filter(user=lead).count() == 1
    denied = events(AuditAction.PERMISSION_DENIED, actor=lead)
    assert [event.after["attempted"] for event in denied] == [
        "otp_enrolment_issue",
        "otp_devices_reset",
    ]
    assert events(AuditAction.OTP_ENROLMENT_ISSUED) == events(AuditAction.OTP_DEVICES_RESET) == []


def test_issuing_is_audited_and_voids_older_codes():
    admin = make_user("root", [Role.ADMIN])
    lead = make_user("lea", [Role.LEAD])

    first = otp_enrolment_issue(actor=admin, user_id=lead.pk, ttl=timedelta(hours=2))
    second = otp_enrolment_issue(actor=admin, user_id=lead.pk, ttl=timedelta(hours=2))

    assert re.fullmatch(r"([A-HJ-NP-Z2-9]{4}-){3}[A-HJ-NP-Z2-9]{4}", second.code)
    first.record.refresh_from_db()
    assert first.record.voided_at is not None and second.record.voided_at is None
    issued = events(AuditAction.OTP_ENROLMENT_ISSUED)
    assert [(e.actor, e.after["voided_codes"]) for e in issued] == [(admin, 0), (admin, 1)]
    assert not any(second.code in str(e.after) for e in issued)
    with pytest.raises(InvalidInput, match="must be valid between"):
        otp_enrolment_issue(actor=admin, user_id=lead.pk, ttl=timedelta(days=90))


# --- A second device ---------------------------------------------------------------------------


def test_a_second_device_needs_a_current_code_of_the_first(web):
    lead = make_user("lea", [Role.LEAD])
    lead_web = client_for(lead)
    (first,) = TOTPDevice.objects.filter(user=lead)
    add = reverse("add-authenticator")

    asked = lead_web.get(add).content.decode()
    refused = lead_web.post(add, {"otp_token": wrong_code(first)})
    approved = lead_web.post(add, {"otp_token": current_code(first)})
    page = lead_web.get(add).content.decode()
    second = TOTPDevice.objects.get(user=lead, confirmed=False)
    confirmed = lead_web.post(add, {"otp_token": current_code(second)}, follow=True)

    assert "enter the current code of the one you already use" in asked and "<svg" not in asked
    assert "That code is not right" in refused.content.decode()
    assert approved.status_code == 302 and "Add another authenticator" in page and "<svg" in page
    assert "Your new authenticator is set up." in confirmed.content.decode()
    assert TOTPDevice.objects.filter(user=lead, confirmed=True).count() == 2
    (event,) = events(AuditAction.OTP_DEVICE_CONFIRMED)
    assert event.after["approved_by_device_id"] == first.pk
    # Either device now passes the second factor (once its last code has gone by: no replays).
    TOTPDevice.objects.filter(pk=second.pk).update(last_t=-1)
    sign_in(web, "lea")
    assert web.post(TWO_FACTOR, {"otp_token": current_code(second)}).status_code == 302


# --- Commands ----------------------------------------------------------------------------------

CODE_LINE = re.compile(r"Two-factor enrolment code for '(\w+)' .*: ([A-Z2-9-]{19})$", re.M)


def test_issue_enrolment_code_command_prints_a_working_code(web):
    lead = make_user("lea", [Role.LEAD])
    out = io.StringIO()

    call_command("issue_enrolment_code", "lea", "--hours", "2", stdout=out)

    ((username, code),) = CODE_LINE.findall(out.getvalue())
    record = OtpEnrolmentCode.objects.get(user=lead)
    assert username == "lea" and record.code_hash == enrolment_code_hash(code)
    assert timedelta(hours=2) - (record.expires_at - record.issued_at) < timedelta(seconds=1)
    sign_in(web, "lea")
    assert enrol(web, lead, code)[0].status_code == 302
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("issue_enrolment_code", "nobody")


def test_create_user_prints_an_enrolment_code_for_roles_that_need_two_factor():
    out = io.StringIO()

    call_command("create_user", "carl", "--role", "lead", stdout=out)
    call_command("create_user", "dora", "--role", "analyst", stdout=out)

    assert [username for username, _ in CODE_LINE.findall(out.getvalue())] == ["carl"]
    assert OtpEnrolmentCode.objects.filter(user__username="carl").count() == 1
    assert not OtpEnrolmentCode.objects.filter(user__username="dora").exists()


def test_the_demo_command_issues_the_demo_admin_a_code_until_it_enrols():
    from cases.management.commands.demo import Command as Demo

    admin = make_user("admin", [Role.ADMIN], is_superuser=True)

    message = Demo()._demo_admin_enrolment_code()
    (code,) = re.findall(r"enrolment code ([A-Z2-9-]{19})", message)
    record = OtpEnrolmentCode.objects.get(user=admin)
    TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)

    assert record.code_hash == enrolment_code_hash(code)
    assert record.expires_at - record.issued_at == timedelta(days=7)
    assert Demo()._demo_admin_enrolment_code() == ""
    assert OtpEnrolmentCode.objects.filter(user=admin).count() == 1


# --- Admin actions -----------------------------------------------------------------------------


def test_admin_actions_issue_a_code_shown_once_and_reset_devices():
    admin = make_user("root", [Role.ADMIN], is_superuser=True)
    lead = make_user("lea", [Role.LEAD])
    TOTPDevice.objects.create(user=lead, name="phone", confirmed=True)
    admin_web = client_for(admin)
    changelist = reverse("admin:auth_user_changelist")

    issued = admin_web.post(
        changelist, {"action": "issue_enrolment_code", "_selected_action": [lead.pk]}
    )
    reset = admin_web.post(
        changelist, {"action": "reset_two_factor_devices", "_selected_action": [lead.pk]},
        follow=True,
    )  # fmt: skip

    page = issued.content.decode()
    (code,) = re.findall(r'<code class="enrolment-code">([A-Z2-9-]{19})</code>', page)
    assert issued.status_code == 200 and "no-cache" in issued["Cache-Control"]
    assert OtpEnrolmentCode.objects.get(user=lead).code_hash == enrolment_code_hash(code)
    assert "Lea: 1 two-factor device(s) removed" in reset.content.decode()
    assert not TOTPDevice.objects.filter(user=lead).exists()
    assert [e.actor for e in events(AuditAction.OTP_ENROLMENT_ISSUED)] == [admin]
    assert [e.actor for e in events(AuditAction.OTP_DEVICES_RESET)] == [admin]
