"""Fraud rings: accounts linked by shared IPs and devices, hubs left out, ranked snapshots."""

import pytest
from django.test import override_settings

from cases.errors import ActionNotPermitted
from cases.ips.selectors.rings import account_ring, ring_rank, rings_page
from cases.ips.services import RINGS_REFRESH_REQUESTED, rings_compute, rings_request_refresh
from cases.models import AuditEvent, Case, Ring, RingMember, RingSnapshot
from cases.tests.link_fixtures import analyst_of_every_case, tx
from cases.tests.workflow_fixtures import make_queue, make_user
from conftest import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return make_user("lea", "lead")  # reads every case


HUB_IP = "81.2.69.200"  # a carrier NAT: used by five accounts


@pytest.fixture
def two_rings_and_a_hub():
    """Ring A: a1-a2 share an IP, a2-a3 a device. Ring B: b1-b2 share a device, both confirmed
    fraud. The hub IP touches a1, b1 and three accounts that share nothing else."""
    tx("a1", ip="81.2.69.10", device="dev-a1")
    tx("a2", ip="81.2.69.10", device="dev-a")
    tx("a3", ip="5.9.1.1", device="dev-a")
    tx("b1", ip="89.160.20.128", device="dev-b", label="fraud")
    tx("b2", ip="89.160.20.129", device="dev-b", label="fraud")
    for account in ("a1", "b1", "x1", "x2", "x3"):
        tx(account, ip=HUB_IP)
    tx("loner", ip="8.8.8.8", device="dev-loner")


@override_settings(FRAUDCASE_LINK_HUB_DEGREE=4)
def test_two_rings_stay_apart_although_a_hub_ip_touches_both(two_rings_and_a_hub):
    snapshot = rings_compute(requested_by_name="tester")

    rings = {tuple(ring.account_ids): ring for ring in snapshot.rings.all()}
    assert set(rings) == {("a1", "a2", "a3"), ("b1", "b2")}
    ring_a, ring_b = rings[("a1", "a2", "a3")], rings[("b1", "b2")]
    assert (ring_a.shared_ips, ring_a.shared_devices) == (["81.2.69.10"], ["dev-a"])
    assert (ring_b.shared_ips, ring_b.shared_devices) == ([], ["dev-b"])
    assert (ring_a.fraud_accounts, ring_b.fraud_accounts) == (0, 2)
    assert (ring_a.open_case_accounts, ring_b.open_case_accounts) == (3, 2)
    assert (snapshot.ring_count, snapshot.linked_accounts) == (2, 5)
    assert (snapshot.hub_ips, snapshot.hub_devices, snapshot.hub_degree) == (1, 0, 4)
    assert snapshot.computed_at is not None and snapshot.requested_by_name == "tester"
    assert account_ring("x1") is None and account_ring("loner") is None
    assert account_ring("a3") == ring_a


@override_settings(FRAUDCASE_LINK_HUB_DEGREE=5)
def test_below_the_hub_degree_the_shared_ip_does_join_them(two_rings_and_a_hub):
    snapshot = rings_compute()

    (ring,) = snapshot.rings.all()
    assert ring.account_ids == ["a1", "a2", "a3", "b1", "b2", "x1", "x2", "x3"]
    assert snapshot.hub_ips == 0


@override_settings(FRAUDCASE_LINK_HUB_DEGREE=4)
def test_rings_are_ranked_by_fraud_members_or_by_size(two_rings_and_a_hub, lead):
    rings_compute()

    by_fraud = rings_page(viewer=lead, sort="fraud")
    by_size = rings_page(viewer=lead, sort="size")

    assert [row.ring.account_ids for row in by_fraud.rows] == [["b1", "b2"], ["a1", "a2", "a3"]]
    assert [row.ring.account_ids for row in by_size.rows] == [["a1", "a2", "a3"], ["b1", "b2"]]
    assert [row.rank for row in by_size.rows] == [1, 2]
    assert ring_rank(account_ring("b1"), sort="fraud") == 1
    assert ring_rank(account_ring("b1"), sort="size") == 2
    member = by_fraud.rows[0].members[0]
    assert (member.account_id, member.case_open) == ("b1", True)
    assert member.case_reference.startswith("FC-")


@override_settings(FRAUDCASE_LINK_HUB_DEGREE=4)
def test_a_new_snapshot_replaces_the_old_one(two_rings_and_a_hub):
    first = rings_compute()
    tx("a4", device="dev-a")  # joins ring A

    second = rings_compute()

    assert list(RingSnapshot.objects.values_list("pk", flat=True)) == [second.pk]
    assert not Ring.objects.filter(snapshot=first.pk).exists()
    assert RingMember.objects.count() == 6
    assert sorted(r.size for r in second.rings.all()) == [2, 4]


def test_no_snapshot_yet_reads_as_empty(lead):
    page = rings_page(viewer=lead)
    assert (page.snapshot, page.rows, page.pages) == (None, [], 0)


def test_an_analyst_may_not_start_a_computation_and_it_is_audited():
    analyst = make_user("ana", "analyst")
    mark = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    with pytest.raises(ActionNotPermitted):
        rings_request_refresh(actor=analyst)

    event = AuditEvent.objects.get(id__gt=mark)  # after the user's own creation
    assert (event.action, event.actor_name) == ("permission_denied", "ana")
    assert not RingSnapshot.objects.exists()


def test_rings_page_lists_members_escaped_and_says_when(client, two_rings_and_a_hub):
    tx("<script>alert(1)</script>", device="dev-b")
    client.force_login(analyst_of_every_case())
    with override_settings(FRAUDCASE_LINK_HUB_DEGREE=4):
        rings_compute()

    response = client.get("/rings/?sort=size")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('class="card ring-card"') == 2
    text = " ".join(html.split())
    assert '#1 · 3 accounts · <span class="ring-fraud">2 with confirmed fraud</span>' in text
    assert "computed <time" in text
    assert '<a href="/ips/81.2.69.10/">81.2.69.10</a>' in text
    assert text.count('<a href="/accounts/') >= 5  # every member's account page
    assert '<a href="/devices/dev-a/">dev-a</a>' in text  # shared devices link theirs
    assert "Recompute now" not in html  # analysts cannot start one


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_lead_asks_and_a_real_worker_computes_the_rings(celery_worker_factory):
    tx("a1", device="dev-shared")
    tx("a2", device="dev-shared")
    lead = make_user("lea", "lead")
    worker = celery_worker_factory()

    rings_request_refresh(actor=lead)

    snapshot = wait_until(
        lambda: RingSnapshot.objects.filter(computed_at__isnull=False).first(), timeout=60,
        message=lambda: f"a snapshot; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert snapshot.requested_by_name == "lea"
    assert [ring.account_ids for ring in snapshot.rings.all()] == [["a1", "a2"]]
    event = AuditEvent.objects.get(action=RINGS_REFRESH_REQUESTED)
    assert event.actor_name == "lea"


def test_an_analyst_sees_ring_members_of_other_queues_only_as_a_count(client, two_rings_and_a_hub):
    analyst = analyst_of_every_case()
    Case.objects.filter(account_id="a2").update(queue=make_queue("Others"))
    with override_settings(FRAUDCASE_LINK_HUB_DEGREE=4):
        rings_compute()
    client.force_login(analyst)

    page = rings_page(viewer=analyst, sort="size")
    html = " ".join(client.get("/rings/?sort=size").content.decode().split())

    ring_a = page.rows[0]
    assert [member.account_id for member in ring_a.members] == ["a1", "a3"]
    assert (ring_a.hidden_members, ring_a.more_members) == (1, 0)
    assert ">a2<" not in html
    assert "1 account of cases in queues you do not work" in html
