"""Lockouts by (username, address) and by address, unknown usernames kept out of the audit chain,
and the page where leads and admins unlock users. All through the real login form and axes."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from cases.accounts.roles import Role
from cases.models import AuditAction, AuditEvent, UnknownUsernameFailures
from cases.tests.sign_in_fixtures import events, make_user, sign_in
from conftest import client_for

pytestmark = pytest.mark.django_db

OFFICE_IP = "198.51.100.20"
ATTACKER_IP = "203.0.113.66"


def from_ip(ip: str) -> Client:
    return Client(REMOTE_ADDR=ip)


def lock_out(username: str, ip: str, limit: int) -> None:
    for _ in range(limit):
        sign_in(from_ip(ip), username, "wrong-guess")


def test_a_lockout_from_another_address_does_not_lock_the_user_out_of_theirs(settings):
    make_user("ana", [Role.ANALYST])
    lock_out("ana", ATTACKER_IP, settings.AXES_FAILURE_LIMIT)

    attacker = sign_in(from_ip(ATTACKER_IP), "ana")  # even with the right password
    colleague = sign_in(from_ip(OFFICE_IP), "ana")

    assert attacker.status_code == 429
    assert "Too many failed sign-ins for this account" in attacker.content.decode()
    assert colleague.status_code == 302 and colleague.url == reverse("home")
    lockouts = events(AuditAction.PERMISSION_DENIED, after__error="locked_out")
    assert [(e.client_ip, e.after["username"]) for e in lockouts] == [(ATTACKER_IP, "ana")] * 2


def test_many_usernames_from_one_address_get_the_address_throttled(settings):
    settings.FRAUDCASE_LOGIN_IP_FAILURE_LIMIT = 8
    make_user("ana", [Role.ANALYST])
    sprayer = from_ip(ATTACKER_IP)

    statuses = [sign_in(sprayer, f"guess{n}", "wrong-guess").status_code for n in range(8)]
    refused_known = sign_in(sprayer, "ana")  # a fresh username, right password: still refused
    refused_unknown = sign_in(sprayer, "guess-after", "wrong-guess")
    elsewhere = sign_in(from_ip(OFFICE_IP), "ana")

    assert statuses == [200] * 7 + [429]
    page = refused_known.content.decode()
    assert refused_known.status_code == 429
    assert "Too many failed sign-ins from your network address (the limit is 8" in page
    assert refused_unknown.status_code == 429
    assert elsewhere.status_code == 302
    # Unknown usernames: counted per address and hour, never as chained events.
    (tally,) = UnknownUsernameFailures.objects.all()
    assert (tally.client_ip, tally.failures, tally.refused_while_locked) == (ATTACKER_IP, 9, 2)
    assert [e.after["username"] for e in events(AuditAction.SIGN_IN_FAILED)] == ["ana"]
    assert [e.after["username"] for e in events(AuditAction.PERMISSION_DENIED)] == ["ana"]


def test_failures_of_unknown_usernames_add_no_audit_events_but_are_counted(settings):
    events_before = AuditEvent.objects.count()

    for ip, username in ((ATTACKER_IP, "x1"), (ATTACKER_IP, "x2"), (OFFICE_IP, "x3")):
        assert sign_in(from_ip(ip), username, "wrong-guess").status_code == 200

    assert AuditEvent.objects.count() == events_before
    tallies = UnknownUsernameFailures.objects.order_by("client_ip")
    assert [(t.client_ip, t.failures) for t in tallies] == [(OFFICE_IP, 1), (ATTACKER_IP, 2)]
    assert AccessAttempt.objects.filter(ip_address=ATTACKER_IP).count() == 2


# --- The lockouts page ---------------------------------------------------------------------


def test_an_analyst_may_not_see_the_lockouts_page_or_unlock_anyone(settings):
    analyst = make_user("ana", [Role.ANALYST])
    make_user("bob", [Role.ANALYST])
    lock_out("bob", ATTACKER_IP, settings.AXES_FAILURE_LIMIT)
    web = client_for(analyst)

    page = web.get(reverse("lockouts"))
    unlock = web.post(reverse("unlock-user"), {"username": "bob"})
    unlock_nobody = web.post(reverse("unlock-user"), {})  # permission before validation
    unlock_address = web.post(reverse("unlock-user"), {"ip_address": ATTACKER_IP})

    statuses = [page.status_code, unlock.status_code, unlock_nobody.status_code]
    assert statuses + [unlock_address.status_code] == [403] * 4
    assert "bob" not in page.content.decode()
    assert AccessAttempt.objects.get(username="bob").failures_since_start == 5
    denied = events(AuditAction.PERMISSION_DENIED, actor=analyst)
    assert [event.after["attempted"] for event in denied] == [
        "view /auth/lockouts/",
        "user_unlock",
        "user_unlock",
        "sign_in_address_unlock",
    ]
    assert events(AuditAction.USER_UNLOCKED) == []


@pytest.mark.parametrize("role", [Role.LEAD, Role.ADMIN])
def test_a_lead_or_an_admin_unlocks_a_user_who_can_then_sign_in(settings, role):
    unlocker = make_user("boss", [role])
    bob = make_user("bob", [Role.ANALYST])
    lock_out("bob", ATTACKER_IP, settings.AXES_FAILURE_LIMIT)
    assert sign_in(from_ip(ATTACKER_IP), "bob").status_code == 429
    web = client_for(unlocker)

    page = web.get(reverse("lockouts")).content.decode()
    unlocked = web.post(reverse("unlock-user"), {"username": "bob"}, follow=True)
    signed_in = sign_in(from_ip(ATTACKER_IP), "bob")

    assert '<th scope="row">bob</th>' in page and ATTACKER_IP in page
    assert 'aria-label="Unlock bob"' in page
    assert unlocked.redirect_chain == [(reverse("lockouts"), 302)]
    after = unlocked.content.decode()
    assert "Unlocked bob (1 failure record cleared)." in after
    assert "No username is locked out." in after
    assert signed_in.status_code == 302 and signed_in.url == reverse("home")
    assert not AccessAttempt.objects.filter(username="bob").exists()
    (event,) = events(AuditAction.USER_UNLOCKED)
    assert event.actor == unlocker and event.object_id == str(bob.pk)
    assert event.before == {"failures": 5, "locked_from": [ATTACKER_IP]}
    assert event.after == {"username": "bob", "failures": 0, "known_user": True}


def test_unlocking_a_username_with_no_failures_is_refused_and_audited():
    lead = make_user("lea", [Role.LEAD])
    web = client_for(lead)

    response = web.post(reverse("unlock-user"), {"username": "bob"}, follow=True)

    assert "No failed sign-ins are counted against &#x27;bob&#x27;." in response.content.decode()
    (refused,) = events(AuditAction.REFUSED, actor=lead)
    assert refused.after["attempted"] == "user_unlock"
    assert events(AuditAction.USER_UNLOCKED) == []


def test_the_lockouts_page_lists_locked_addresses_and_unknown_username_tallies(settings):
    settings.FRAUDCASE_LOGIN_IP_FAILURE_LIMIT = 6
    lead = make_user("lea", [Role.LEAD])
    for n in range(6):
        sign_in(from_ip(ATTACKER_IP), f"guess{n}", "wrong-guess")

    page = client_for(lead).get(reverse("lockouts")).content.decode()

    assert "No username is locked out." in page
    assert f'<th scope="row">{ATTACKER_IP}</th>\n    <td>6</td>' in page
    assert "Failed sign-ins of unknown usernames" in page and "<td>6</td>\n    <td>1</td>" in page


def test_a_lead_unlocks_a_locked_address_for_everyone_behind_it(settings):
    settings.FRAUDCASE_LOGIN_IP_FAILURE_LIMIT = 6
    lead = make_user("lea", [Role.LEAD])
    make_user("ana", [Role.ANALYST])
    for n in range(6):
        sign_in(from_ip(OFFICE_IP), f"typo{n % 2}", "wrong-guess")
    assert sign_in(from_ip(OFFICE_IP), "ana").status_code == 429
    web = client_for(lead)

    page = web.get(reverse("lockouts")).content.decode()
    bad = web.post(reverse("unlock-user"), {"ip_address": "not-an-address"}, follow=True)
    unlocked = web.post(reverse("unlock-user"), {"ip_address": OFFICE_IP}, follow=True)

    assert f'aria-label="Unlock address {OFFICE_IP}"' in page
    assert "Name the network address (IPv4 or IPv6) to unlock." in bad.content.decode()
    assert f"Unlocked {OFFICE_IP} (2 failure records cleared)." in unlocked.content.decode()
    assert sign_in(from_ip(OFFICE_IP), "ana").status_code == 302
    (event,) = events(AuditAction.USER_UNLOCKED)
    assert (event.actor, event.object_type, event.object_id) == (lead, "sign_in.address", OFFICE_IP)
    assert event.before == {"failures": 6, "usernames": 2}
    (refused,) = events(AuditAction.REFUSED, actor=lead)
    assert refused.after["attempted"] == "sign_in_address_unlock"
