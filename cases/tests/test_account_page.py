"""The account page and the device page: what the selectors read (exact values), and who may
see them (another queue's account is a 404 like an unknown one, the attempt audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from cases.customer_accounts.selectors import (
    BASELINE_MIN_TRANSACTIONS,
    TRANSACTIONS_PER_PAGE,
    account_overview,
    amount_baseline,
    device_usage,
)
from cases.ingest.case_opening import cases_refresh_priority
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, Transaction
from cases.tests.workflow_fixtures import make_queue, make_user
from cases.workflow import services
from conftest import client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def add_transactions(case: Case, count: int, *, start: int, **fields) -> list[Transaction]:
    rows = [
        Transaction(
            transaction_id=f"tx_{case.account_id}_{start + index}",
            account_id=case.account_id,
            occurred_at=T0 + timedelta(days=start + index),
            amount=Decimal(10 * (start + index + 1)),
            currency="EUR",
            similarity_score=0.6,
            model_version="m1",
            case=case,
            **{"device_id": "dev_a", "source_ip": "81.2.69.10", "country": "DE", **fields},
        )  # fmt: skip
        for index in range(count)
    ]
    Transaction.objects.bulk_create(rows)
    cases_refresh_priority(case_ids=[case.pk])
    return rows


@pytest.fixture
def world():
    analyst = make_user("ana", "analyst")
    outsider = make_user("olga", "analyst")
    general = make_queue("General", analyst, is_default=True)
    high = make_queue("High risk", outsider)
    past = Case.objects.create(account_id="acc_1", queue=general, status=CaseStatus.CLOSED,
                               resolution="confirmed_fraud", closed_at=T0 + timedelta(days=5))  # fmt: skip
    add_transactions(past, 3, start=0)
    current = Case.objects.create(account_id="acc_1", queue=general)
    add_transactions(current, 2, start=3, device_id="dev_b", source_ip="185.220.101.7",
                     country="NL", outcome="block")  # fmt: skip
    # A case of the same account in a queue the analyst does not work.
    elsewhere = Case.objects.create(account_id="acc_1", queue=high, status=CaseStatus.CLOSED,
                                    resolution="false_positive")  # fmt: skip
    add_transactions(elsewhere, 1, start=10, device_id="dev_b")
    services.transaction_label(actor=analyst, transaction_id="tx_acc_1_3", label="fraud")
    services.transaction_label(actor=analyst, transaction_id="tx_acc_1_3", label="legitimate")
    return {"analyst": analyst, "outsider": outsider, "past": past, "current": current,
            "elsewhere": elsewhere}  # fmt: skip


def test_the_overview_reads_the_readable_cases_of_the_account(world):
    overview = account_overview("acc_1", viewer=world["analyst"])

    assert [tx.transaction_id for tx in overview.transactions.items] == [
        "tx_acc_1_4", "tx_acc_1_3", "tx_acc_1_2", "tx_acc_1_1", "tx_acc_1_0",
    ]  # fmt: skip
    assert overview.transactions.total == 5
    assert overview.first_seen == T0 and overview.last_seen == T0 + timedelta(days=4)
    assert [case.pk for case in overview.cases] == [world["current"].pk, world["past"].pk]
    assert [(u.value, u.transactions) for u in overview.devices] == [("dev_a", 3), ("dev_b", 2)]
    assert [(u.value, u.transactions, u.first_seen, u.last_seen) for u in overview.ips] == [
        ("81.2.69.10", 3, T0, T0 + timedelta(days=2)),
        ("185.220.101.7", 2, T0 + timedelta(days=3), T0 + timedelta(days=4)),
    ]
    assert [(u.value, u.transactions) for u in overview.countries] == [("DE", 3), ("NL", 2)]
    assert overview.label_counts == {"fraud": 0, "legitimate": 1, "unlabelled": 4}
    assert [(v.transaction.transaction_id, v.version, v.label) for v in overview.label_history] == [
        ("tx_acc_1_3", 2, "legitimate"), ("tx_acc_1_3", 1, "fraud"),
    ]  # fmt: skip
    assert overview.hidden == {"cases": 1, "transactions": 1}
    assert [point["id"] for point in overview.timeline] == [f"tx_acc_1_{i}" for i in range(5)]
    assert overview.timeline[3]["group"] == "labelled legitimate"
    assert overview.timeline[0]["group"] == "flagged, undecided"
    # Five transactions not labelled fraud: amounts 10..50, enough for the usual band.
    assert overview.baseline.transactions == 5
    assert (overview.baseline.p10, overview.baseline.median, overview.baseline.p90) == (
        10.0, 30.0, 50.0,
    )  # fmt: skip


def test_a_lead_sees_every_case_of_the_account(world):
    lead = make_user("lea", "lead")
    overview = account_overview("acc_1", viewer=lead)
    assert overview.transactions.total == 6
    assert overview.hidden == {"cases": 0, "transactions": 0}
    assert [case.pk for case in overview.cases] == [
        world["elsewhere"].pk, world["current"].pk, world["past"].pk,
    ]  # fmt: skip


def test_an_account_none_of_whose_cases_are_readable_is_none(world):
    stranger = make_user("sam", "analyst")
    assert account_overview("acc_1", viewer=stranger) is None
    assert account_overview("acc_unknown", viewer=world["analyst"]) is None
    # The outsider reads the account through the case of their queue only.
    overview = account_overview("acc_1", viewer=world["outsider"])
    assert [tx.transaction_id for tx in overview.transactions.items] == ["tx_acc_1_10"]
    assert overview.hidden == {"cases": 2, "transactions": 5}
    assert overview.label_history == []


def test_transactions_are_paged_newest_first(world):
    big = Case.objects.create(account_id="acc_big", queue=world["current"].queue)
    add_transactions(big, TRANSACTIONS_PER_PAGE + 7, start=0)

    first = account_overview("acc_big", viewer=world["analyst"], page=1)
    second = account_overview("acc_big", viewer=world["analyst"], page=2)
    beyond = account_overview("acc_big", viewer=world["analyst"], page=99)

    assert (first.transactions.pages, first.transactions.total) == (2, TRANSACTIONS_PER_PAGE + 7)
    assert first.transactions.items[0].transaction_id == f"tx_acc_big_{TRANSACTIONS_PER_PAGE + 6}"
    assert [tx.transaction_id for tx in second.transactions.items] == [
        f"tx_acc_big_{index}" for index in range(6, -1, -1)
    ]
    assert (second.transactions.first_index, second.transactions.last_index) == (
        TRANSACTIONS_PER_PAGE + 1, TRANSACTIONS_PER_PAGE + 7,
    )  # fmt: skip
    assert beyond.transactions.number == 2


def test_the_baseline_needs_enough_transactions_and_leaves_fraud_out():
    rows = [{"amount": Decimal(amount), "label": ""} for amount in ("5", "7", "9", "11")]
    assert BASELINE_MIN_TRANSACTIONS == 5
    too_few = amount_baseline(rows)
    assert (too_few.enough, too_few.transactions, too_few.median) == (False, 4, None)

    rows += [{"amount": Decimal("13"), "label": "legitimate"},
             {"amount": Decimal("9000"), "label": "fraud"}]  # fmt: skip
    enough = amount_baseline(rows)
    assert (enough.transactions, enough.p10, enough.median, enough.p90) == (5, 5.0, 9.0, 13.0)
    assert enough.as_chart == {"p10": 5.0, "median": 9.0, "p90": 13.0, "n": 5}


def test_the_device_page_reads_its_accounts(world):
    usage = device_usage("dev_b", viewer=world["analyst"])
    assert [(u.value, u.transactions) for u in usage.accounts] == [("acc_1", 2)]
    assert usage.transaction_total == 2
    assert usage.hidden == {"cases": 1, "accounts": 0, "transactions": 1}
    assert device_usage("dev_b", viewer=make_user("sam", "analyst")) is None
    assert device_usage("", viewer=world["analyst"]) is None


# --- the pages --------------------------------------------------------------------------------


def test_the_account_page_shows_the_account(world):
    response = client_for(world["analyst"]).get(reverse("account-detail", args=["acc_1"]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "tx_acc_1_4" in body and world["current"].reference in body
    assert "Confirmed fraud" in body
    assert "tx_acc_1_10" not in body and world["elsewhere"].reference not in body
    assert "And 1 case with 1 transaction in queues you do not work" in body
    assert 'href="/devices/dev_b/"' in body and 'href="/ips/185.220.101.7/"' in body


def test_another_queues_account_is_a_404_like_an_unknown_one(world):
    stranger = make_user("sam", "analyst")
    make_queue("Elsewhere", stranger)
    client = client_for(stranger)

    hidden = client.get(reverse("account-detail", args=["acc_1"]))
    unknown = client.get(reverse("account-detail", args=["acc_nobody"]))

    assert hidden.status_code == unknown.status_code == 404
    assert "tx_acc_1" not in hidden.content.decode()
    denials = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, actor=stranger)
    assert [(event.object_type, event.object_repr) for event in denials] == [("account", "acc_1")]


def test_account_ids_with_slashes_and_markup_are_links_and_text(world):
    odd = Case.objects.create(account_id="acc/<b>7</b>", queue=world["current"].queue)
    add_transactions(odd, 1, start=0)
    url = reverse("account-detail", args=[odd.account_id])

    response = client_for(world["analyst"]).get(url)

    assert response.status_code == 200
    assert "&lt;b&gt;7&lt;/b&gt;" in response.content.decode()
    assert "<b>7</b>" not in response.content.decode()


@pytest.mark.parametrize("account_id", ["login", "logout", "2fa", "tokens/7/revoke", "acc/9"])
def test_an_account_named_like_a_sign_in_page_opens_its_account_page(world, account_id):
    named = Case.objects.create(account_id=account_id, queue=world["current"].queue)
    add_transactions(named, 1, start=0)
    url = reverse("account-detail", args=[account_id])

    response = client_for(world["analyst"]).get(url)

    assert url == f"/accounts/{account_id}/"
    assert response.status_code == 200
    assert f"tx_{account_id}_0" in response.content.decode()


def test_sign_in_lives_apart_from_the_account_pages(world):
    from django.test import Client

    assert reverse("login") == "/auth/login/" and reverse("two-factor") == "/auth/2fa/"
    client = Client()
    assert client.get(reverse("account-detail", args=["acc_1"])).url.startswith("/auth/login/")

    signed_in = client.post("/auth/login/", {"username": "ana", "password": "a-long-test-password"})

    assert signed_in.status_code == 302 and signed_in.url == reverse("home")
    assert client.get(reverse("account-detail", args=["acc_1"])).status_code == 200


def test_the_case_page_links_the_account_and_devices(world):
    response = client_for(world["analyst"]).get(
        reverse("case-detail", args=[world["current"].reference])
    )
    body = response.content.decode()
    assert 'href="/accounts/acc_1/"' in body and 'href="/devices/dev_b/"' in body
    timeline_help = body.split('id="timeline-help"')[1].split("</p>")[0]
    assert 'href="/accounts/acc_1/"' in timeline_help  # the whole story is one click away


def test_the_queue_the_overview_and_the_ip_page_link_accounts(world):
    client = client_for(world["analyst"])
    queue_page = client.get(reverse("home")).content.decode()
    overview_page = client.get(reverse("overview")).content.decode()
    ip_page = client.get(reverse("ip-detail", args=["185.220.101.7"])).content.decode()
    assert 'href="/accounts/acc_1/"' in queue_page
    assert f'href="/cases/{world["current"].reference}/"' in overview_page
    assert 'href="/accounts/acc_1/"' in overview_page
    assert 'href="/accounts/acc_1/"' in ip_page and 'href="/devices/dev_b/"' in ip_page


def test_the_device_and_ip_pages_share_the_transactions_table(world):
    client = client_for(world["analyst"])
    device_page = client.get(reverse("device-detail", args=["dev_b"])).content.decode()
    ip_page = client.get(reverse("ip-detail", args=["185.220.101.7"])).content.decode()

    for page, left_out in ((device_page, "Device"), (ip_page, "Source IP")):
        table = page.split('class="ip-table ')[1].split("</thead>")[0]
        assert '<th scope="col">Detector</th>' in table and '<th scope="col">Country</th>' in table
        assert f'<th scope="col">{left_out}</th>' not in table
        assert '<span class="case-outcome case-outcome-block">' in page


def test_the_case_pages_timeline_leaves_out_other_queues_cases_of_the_account(world):
    body = (
        client_for(world["analyst"])
        .get(reverse("case-detail", args=[world["current"].reference]))
        .content.decode()
    )
    timeline = body.split('id="case-timeline-data"')[1].split("</script>")[0]
    assert "tx_acc_1_4" in timeline and "tx_acc_1_0" in timeline
    assert "tx_acc_1_10" not in body
    assert "1 of them, in cases of queues you do not work, are not drawn." in body
