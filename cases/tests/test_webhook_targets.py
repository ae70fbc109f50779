"""Webhooks go to public addresses only: a subscription whose URL leads into FraudCase's own
network (loopback, private, link-local/metadata, ...) is refused when saved, and every delivery
checks the address it connects to, so a name re-pointed after the save (DNS rebinding) reaches
nothing. The tests' receivers listen on loopback: each test here turns the rule back on."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from cases.models import WebhookDelivery, WebhookSubscription
from cases.tests.test_webhooks import subscribe
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.webhooks.delivery import webhook_deliveries_send_due
from cases.workflow import services
from conftest import client_for

pytestmark = pytest.mark.django_db

INTERNAL_URLS = [
    "http://127.0.0.1:8000/hooks",
    "http://localhost/hooks",  # a name: resolved, and it is loopback
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.1.2.3/hooks",
    "https://192.168.0.10/hooks",
    "http://100.64.0.1/hooks",  # shared address space (carrier NAT)
    "http://0.0.0.0/hooks",
    "http://[::1]/hooks",
    "http://[fd00:ec2::254]/latest/",  # metadata over IPv6, a unique-local address
    "http://[::ffff:10.0.0.1]/hooks",  # IPv4 in IPv6 clothing
]


@pytest.fixture
def team():
    analyst, lead = make_user("ana", "analyst"), make_user("lea", "lead")
    return analyst, lead, make_queue("General", analyst, is_default=True)


@pytest.fixture
def rule_on(settings):
    settings.FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    return settings


@pytest.fixture
def dns(monkeypatch):
    """The resolver's answers for names under .test, the rest from the system's; counts calls."""
    answers: dict[str, str] = {}
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, asked


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_a_url_into_our_own_network_is_refused_when_saved(rule_on, url):
    subscription = WebhookSubscription(name="inside", url=url, event_types=["case.closed"])

    with pytest.raises(ValidationError) as refused:
        subscription.full_clean()

    [message] = refused.value.message_dict["url"]
    assert message.startswith("webhooks are sent to public addresses only")


def test_the_admin_form_says_why_and_saves_nothing(rule_on):
    root = get_user_model().objects.create_superuser("root", password="a-long-test-password")
    client = client_for(root)
    form = {"name": "metadata", "event_types": "case.closed", "active": "on"}

    refused = client.post(
        "/admin/cases/webhooksubscription/add/",
        {**form, "url": "http://169.254.169.254/latest/meta-data/"},
    )
    public = client.post(
        "/admin/cases/webhooksubscription/add/", {**form, "url": "https://203.0.114.7/hooks"}
    )

    assert refused.status_code == 200
    assert "169.254.169.254 is a link-local address" in refused.content.decode()
    assert public.status_code == 302, public.content[:2000]
    assert list(WebhookSubscription.objects.values_list("url", flat=True)) == [
        "https://203.0.114.7/hooks"
    ]


def test_private_targets_are_allowed_when_the_setting_says_so(settings):
    settings.FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    subscription = WebhookSubscription(
        name="dev", url="http://127.0.0.1:9000/hooks", event_types=["case.closed"]
    )

    subscription.full_clean()  # no error


def test_a_name_re_pointed_after_the_save_reaches_nothing(rule_on, dns, team, receiver):
    answers, asked = dns
    analyst, lead, queue = team
    server = receiver()
    answers["hooks.partner.test"] = "203.0.114.7"  # public when the admin saves it
    url = f"http://hooks.partner.test:{server.server.server_port}/hooks"
    subscription = WebhookSubscription(name="partner", url=url, event_types=["case.assigned"])
    subscription.full_clean()
    subscription.save()
    answers["hooks.partner.test"] = "127.0.0.1"  # then the name points inside (rebinding)
    services.case_assign(actor=lead, case_id=make_case(queue).pk, assignee_id=analyst.pk)
    asked.clear()

    assert webhook_deliveries_send_due() == 0

    assert server.requests == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "TargetRefused" in delivery.last_error
    assert "127.0.0.1 is a loopback address" in delivery.last_error
    assert asked == ["hooks.partner.test"]


def test_a_delivery_connects_to_the_address_it_checked(dns, team, receiver, settings):
    """One resolution per attempt, the connection made to its answer: nothing resolves the name
    a second time between the check and the connection."""
    answers, asked = dns
    analyst, lead, queue = team
    server = receiver()
    answers["hooks.partner.test"] = "127.0.0.1"
    settings.FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    subscribe(f"http://hooks.partner.test:{server.server.server_port}/hooks", "case.assigned")
    services.case_assign(actor=lead, case_id=make_case(queue).pk, assignee_id=analyst.pk)

    assert webhook_deliveries_send_due() == 1

    [(headers, _)] = server.requests
    assert headers["Host"] == f"hooks.partner.test:{server.server.server_port}"
    assert asked == ["hooks.partner.test"]


def test_a_subscription_stored_before_the_rule_is_refused_at_delivery(rule_on, team, receiver):
    analyst, lead, queue = team
    server = receiver()
    subscribe(server.url, "case.assigned")  # 127.0.0.1, written without the form's check
    services.case_assign(actor=lead, case_id=make_case(queue).pk, assignee_id=analyst.pk)

    assert webhook_deliveries_send_due() == 0

    assert server.requests == []
    assert "127.0.0.1 is a loopback address" in WebhookDelivery.objects.get().last_error
