"""Sign-in: lockout (real axes), TOTP second factor, idle sessions, sign-in audit, user services."""

import io
import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.accounts.roles import Role, user_roles
from cases.accounts.users import user_create, user_set_roles
from cases.errors import ActionNotPermitted, InvalidInput
from cases.models import AuditAction, AuditEvent, UnknownUsernameFailures
from cases.tests.sign_in_fixtures import (
    CLIENT_IP,
    PASSWORD,
    current_code,
    events,
    issue_code,
    make_user,
    sign_in,
    wrong_code,
)

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def web():
    return Client(REMOTE_ADDR=CLIENT_IP)


@pytest.fixture(autouse=True)
def no_totp_backoff(settings):
    # django-otp makes a retry wait 1 s after a wrong code; these tests retry at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


# --- Lockout -------------------------------------------------------------------------------


def test_lockout_after_the_failure_limit_holds_even_for_the_right_password(web, settings):
    make_user("ana", [Role.ANALYST])
    limit = settings.AXES_FAILURE_LIMIT

    before_limit = [sign_in(web, "ana", "wrong-guess").status_code for _ in range(limit - 1)]
    at_limit = sign_in(web, "ana", "wrong-guess")
    right_password = sign_in(web, "ana")

    assert limit == 5
    assert before_limit == [200] * (limit - 1)
    for response in (at_limit, right_password):
        page = response.content.decode()
        assert response.status_code == 429
        assert "Too many failed sign-ins for this account" in page
        assert "Try again in 15 minutes, or ask a lead or an admin to unlock it." in page
    assert "_auth_user_id" not in web.session
    failed = events(AuditAction.SIGN_IN_FAILED)
    assert len(failed) == limit + 1  # the N wrong passwords and the refused right one
    assert {event.after["username"] for event in failed} == {"ana"}
    assert {event.client_ip for event in failed} == {CLIENT_IP}
    assert not any("wrong-guess" in json.dumps(event.after) for event in failed)
    lockouts = events(AuditAction.PERMISSION_DENIED, after__error="locked_out")
    assert [event.after["username"] for event in lockouts] == ["ana", "ana"]


def test_a_locked_out_user_signs_in_again_after_the_cool_off(web, settings):
    make_user("ana", [Role.ANALYST])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(web, "ana", "wrong-guess")
    assert sign_in(web, "ana").status_code == 429

    # The cool-off counts from the last failure: move it past the lockout time.
    cool_off_ago = timezone.now() - timedelta(minutes=settings.FRAUDCASE_LOCKOUT_MINUTES, seconds=1)
    AccessAttempt.objects.filter(username="ana").update(attempt_time=cool_off_ago)
    response = sign_in(web, "ana")

    assert response.status_code == 302 and response.url == reverse("home")
    assert web.get(reverse("home")).status_code == 200


def test_failed_sign_in_of_an_unknown_user_is_counted_outside_the_audit_chain(web):
    events_before = AuditEvent.objects.count()

    response = sign_in(web, "nobody", "whatever-1")

    assert response.status_code == 200
    assert AuditEvent.objects.count() == events_before
    (tally,) = UnknownUsernameFailures.objects.all()
    assert (tally.client_ip, tally.failures, tally.refused_while_locked) == (CLIENT_IP, 1, 0)
    assert tally.hour == tally.last_failure_at.replace(minute=0, second=0, microsecond=0)
    assert AccessAttempt.objects.get(username="nobody").failures_since_start == 1


# --- Second factor -------------------------------------------------------------------------


def test_a_lead_must_enrol_a_totp_device_before_reaching_any_page(web):
    lead = make_user("lea", [Role.LEAD])
    enrolment_code = issue_code(lead)
    assert sign_in(web, "lea").status_code == 302

    for path in (reverse("home"), reverse("ingest-runs"), "/admin/"):
        response = web.get(path)
        assert response.status_code == 302
        assert response.url == f"{reverse('two-factor')}?next={quote(path, safe='')}"
    assert web.get(reverse("login")).status_code == 200
    assert web.get("/static/no-such-file.css").status_code == 404  # not sent to 2FA

    # The QR code only after the admin's enrolment code.
    asked = web.get(reverse("two-factor")).content.decode()
    assert "Enrolment code from your admin" in asked and "<svg" not in asked
    assert not TOTPDevice.objects.filter(user=lead).exists()
    given = web.post(
        reverse("two-factor"),
        {"enrolment_code": enrolment_code.lower(), "next": reverse("ingest-runs")},
    )
    assert given.status_code == 302
    assert given.url == f"{reverse('two-factor')}?next={quote(reverse('ingest-runs'), safe='')}"

    page = web.get(given.url).content.decode()
    device = TOTPDevice.objects.get(user=lead, confirmed=False)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page).group(1)
    assert "Set up two-factor sign-in" in page and '<svg width="' in page
    assert secret.replace(" ", "") == device.config_url.split("secret=")[1].split("&")[0]

    refused = web.post(reverse("two-factor"), {"otp_token": wrong_code(device)})
    assert refused.status_code == 200
    assert "That code is not right" in refused.content.decode()
    assert web.get(reverse("home")).status_code == 302

    accepted = web.post(
        reverse("two-factor"), {"otp_token": current_code(device), "next": reverse("ingest-runs")}
    )
    assert accepted.status_code == 302 and accepted.url == reverse("ingest-runs")
    assert web.get(reverse("home")).status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    (confirmed,) = events(AuditAction.OTP_DEVICE_CONFIRMED)
    assert confirmed.actor == lead and confirmed.object_id == str(device.pk)
    assert confirmed.after["enrolment_code_id"] == lead.otp_enrolment_codes.get().pk
    (failed,) = events(AuditAction.SIGN_IN_FAILED)
    assert failed.actor == lead and failed.after["stage"] == "two_factor"


def test_a_lead_with_a_device_is_asked_for_the_current_code(web):
    lead = make_user("lea", [Role.LEAD])
    device = TOTPDevice.objects.create(user=lead, name="phone", confirmed=True)
    sign_in(web, "lea")

    page = web.get(reverse("two-factor")).content.decode()
    malformed = web.post(reverse("two-factor"), {"otp_token": "12ab"})
    accepted = web.post(reverse("two-factor"), {"otp_token": current_code(device)})

    assert "Enter your sign-in code" in page and "<svg" not in page
    assert "Enter the 6 digits your authenticator app shows." in malformed.content.decode()
    assert accepted.status_code == 302 and accepted.url == reverse("home")
    assert web.get("/admin/").status_code == 302  # verified, but a lead is not staff
    assert web.get(reverse("home")).status_code == 200
    stages = [event.after["stage"] for event in events(AuditAction.SIGN_IN, actor=lead)]
    assert stages == ["password", "two_factor"]


def test_wrong_codes_count_toward_the_lockout(web, settings):
    settings.AXES_FAILURE_LIMIT = 3
    lead = make_user("lea", [Role.LEAD])
    device = TOTPDevice.objects.create(user=lead, name="phone", confirmed=True)
    sign_in(web, "lea")

    responses = [
        web.post(reverse("two-factor"), {"otp_token": wrong_code(device)}) for _ in range(3)
    ]

    assert [response.status_code for response in responses] == [200, 200, 429]
    assert "Too many failed sign-ins" in responses[-1].content.decode()
    assert "_auth_user_id" not in web.session  # signed out
    assert sign_in(web, "lea").status_code == 429
    assert len(events(AuditAction.SIGN_IN_FAILED, after__stage="two_factor")) == 3
    assert wrong_code(device) not in AccessAttempt.objects.get(username="lea").post_data


def test_an_analyst_is_asked_for_a_code_only_when_the_setting_says_so(web, settings):
    make_user("ana", [Role.ANALYST])
    sign_in(web, "ana")

    without_setting = web.get(reverse("home"))
    settings.FRAUDCASE_REQUIRE_OTP_FOR_ANALYSTS = True
    with_setting = web.get(reverse("home"))

    assert without_setting.status_code == 200
    assert with_setting.status_code == 302 and with_setting.url.startswith(reverse("two-factor"))


def test_a_superuser_counts_as_an_admin(web):
    make_user("root", [Role.ANALYST], is_superuser=True)
    sign_in(web, "root")

    assert web.get("/admin/").url.startswith(reverse("two-factor"))


# --- Sessions and sign-in audit --------------------------------------------------------------


def test_sessions_expire_after_30_idle_minutes_renewed_on_every_request(web, settings):
    make_user("ana", [Role.ANALYST])
    sign_in(web, "ana")

    response = web.get(reverse("home"))

    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert response.cookies["sessionid"]["max-age"] == 30 * 60


def test_sign_in_and_sign_out_are_audited_with_actor_and_client_ip(web):
    analyst = make_user("ana", [Role.ANALYST])

    sign_in(web, "ana")
    web.post(reverse("logout"))

    signed_in = events(AuditAction.SIGN_IN)
    signed_out = events(AuditAction.SIGN_OUT)
    assert [(e.actor, e.client_ip) for e in signed_in + signed_out] == [
        (analyst, CLIENT_IP),
        (analyst, CLIENT_IP),
    ]
    assert signed_in[0].after == {
        "username": "ana",
        "stage": "password",
        "second_factor_required": False,
    }
    assert signed_out[0].object_id == str(analyst.pk)


HTMX_FROM_CASE_PAGE = {
    "HTTP_HX_REQUEST": "true",
    "HTTP_HX_CURRENT_URL": "http://testserver/cases/FC-000042/?tab=notes",
}


def test_htmx_requests_of_any_page_after_the_session_ended_load_the_sign_in_page_whole(web):
    """Not only the queue: a case page's panel or form, a label, a link graph."""
    for method, path in (
        ("get", "/cases/FC-000042/why/"),
        ("post", "/cases/FC-000042/notes/"),
        ("get", reverse("ingest-runs")),
    ):
        response = getattr(web, method)(path, **HTMX_FROM_CASE_PAGE)
        assert response.status_code == 204, path
        assert response["HX-Redirect"] == (
            f"{reverse('login')}?next={quote('/cases/FC-000042/?tab=notes', safe='')}"
        )


def test_htmx_sign_in_redirect_comes_back_home_for_a_page_of_another_site(web):
    response = web.get(
        "/cases/FC-000042/why/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://elsewhere.example/phish/",
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{reverse('login')}?next=%2F"


def test_htmx_request_of_a_lead_owing_the_second_factor_loads_the_2fa_page_whole(web):
    make_user("lea", [Role.LEAD])
    sign_in(web, "lea")

    response = web.get("/cases/FC-000042/why/", **HTMX_FROM_CASE_PAGE)
    plain = web.get("/cases/FC-000042/why/")

    assert response.status_code == 204
    assert response["HX-Redirect"] == (
        f"{reverse('two-factor')}?next={quote('/cases/FC-000042/?tab=notes', safe='')}"
    )
    assert plain.status_code == 302 and plain.url.startswith(reverse("two-factor"))


# --- User and role services ------------------------------------------------------------------


def test_user_create_and_user_set_roles_apply_roles_and_audit_them():
    admin = make_user("root", [Role.ADMIN])

    user = user_create(
        actor=admin, username="bea", email="bea@example.com", password=PASSWORD,
        roles=[Role.LEAD, Role.ANALYST],
    )  # fmt: skip
    user_set_roles(actor=admin, user_id=user.pk, roles=[Role.AUDITOR])

    user.refresh_from_db()
    assert user_roles(user) == {"auditor"}
    assert user.check_password(PASSWORD) and user.email == "bea@example.com"
    (created,) = events(AuditAction.USER_CREATED, object_id=str(user.pk))
    assert created.actor == admin and created.before is None
    assert created.after["roles"] == ["analyst", "lead"]
    (changed,) = events(AuditAction.USER_ROLES_CHANGED)
    assert changed.actor == admin and changed.object_id == str(user.pk)
    assert changed.before == {"roles": ["analyst", "lead"]}
    assert changed.after == {"roles": ["auditor"]}


def test_an_analyst_may_not_create_users_or_change_roles():
    analyst = make_user("ana", [Role.ANALYST])
    users_before = User.objects.count()

    with pytest.raises(ActionNotPermitted):
        user_create(actor=analyst, username="eve", password=PASSWORD, roles=[Role.ADMIN])
    with pytest.raises(ActionNotPermitted):
        user_set_roles(actor=analyst, user_id=analyst.pk, roles=[Role.ADMIN])

    assert User.objects.count() == users_before
    assert user_roles(analyst) == {"analyst"}
    denied = events(AuditAction.PERMISSION_DENIED, actor=analyst)
    assert [event.after["attempted"] for event in denied] == ["user_create", "user_set_roles"]
    assert events(AuditAction.USER_ROLES_CHANGED) == []


def test_an_unknown_role_is_refused_with_the_known_ones():
    admin = make_user("root", [Role.ADMIN])

    with pytest.raises(InvalidInput) as refusal:
        user_create(actor=admin, username="bea", password=PASSWORD, roles=["boss"])

    assert refusal.value.message == (
        "unknown role(s): boss; the roles are analyst, lead, auditor, admin, service"
    )
    assert not User.objects.filter(username="bea").exists()
    (refused,) = events(AuditAction.REFUSED, actor=admin)
    assert refused.after["attempted"] == "user_create"


def test_create_user_command_with_a_password_from_stdin_and_a_generated_one():
    out = io.StringIO()
    call_command(
        "create_user", "carl", "--role", "lead", "--role", "auditor", "--email", "c@example.com",
        "--password-stdin", stdin=io.StringIO(PASSWORD + "\n"), stdout=out,
    )  # fmt: skip
    call_command("create_user", "dora", "--role", "analyst", stdout=out)

    carl, dora = User.objects.get(username="carl"), User.objects.get(username="dora")
    generated = re.search(r"Password \(shown only now, store it safely\): (\S+)", out.getvalue())
    assert carl.check_password(PASSWORD) and user_roles(carl) == {"lead", "auditor"}
    assert len(generated.group(1)) >= 20 and dora.check_password(generated.group(1))
    assert PASSWORD not in out.getvalue()
    created = events(AuditAction.USER_CREATED, object_id__in=[str(carl.pk), str(dora.pk)])
    assert {event.actor.username for event in created} == {"system"}


@pytest.mark.parametrize(
    ("arguments", "password", "message"),
    [
        (["carl", "--role", "boss"], PASSWORD, "User not created: unknown role(s): boss"),
        (["ana", "--role", "lead"], PASSWORD, "User not created: the username 'ana' is taken"),
        (["carl", "--role", "lead"], "password", "User not created: the password is too weak"),
        (["carl", "--role", "lead"], "", "standard input had no password"),
    ],
)
def test_create_user_command_refuses_bad_input(arguments, password, message):
    make_user("ana", [Role.ANALYST])

    with pytest.raises(CommandError) as refusal:
        call_command(
            "create_user", *arguments, "--password-stdin", stdin=io.StringIO(password + "\n")
        )

    assert message in str(refusal.value)
    assert not User.objects.filter(username="carl").exists()
