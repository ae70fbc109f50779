"""Link analysis around a case: two account hops, a cap with "N more", hubs not followed."""

import html as html_lib
import json
import re

import pytest
from django.test import override_settings

from cases.ips.selectors.links import case_link_graph
from cases.ips.services import rings_compute
from cases.models import Case
from cases.tests.link_fixtures import account_case, analyst_of_every_case, tx
from cases.tests.workflow_fixtures import make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return make_user("lea", "lead")  # reads every case


def keys(graph) -> set[str]:
    return {f"{node.kind}:{node.value}" for node in graph.nodes}


@pytest.fixture
def fan_out():
    """centre shares one IP with 20 accounts; each of those shares its own device with two
    more accounts: 1 + 1 + 20 + 20 + 40 = 82 nodes within two hops."""
    tx("centre", ip="81.2.69.10")
    for i in range(20):
        tx(f"hop1-{i:02d}", ip="81.2.69.10", device=f"dev-{i:02d}")
        for j in range(2):
            tx(f"hop2-{i:02d}-{j}", device=f"dev-{i:02d}")
    return account_case("centre")


def test_two_hops_are_drawn_in_full_below_the_cap(fan_out, lead):
    graph = case_link_graph(fan_out, max_nodes=500, viewer=lead)

    assert len(graph.nodes) == 82 and graph.hidden_nodes == 0
    assert len(graph.edges) == 20 + 1 + 20 + 40  # account-IP, account-device links
    assert graph.nodes[0].value == "centre" and graph.nodes[0].hop == 0
    by_key = {f"{n.kind}:{n.value}": n for n in graph.nodes}
    assert by_key["account:hop2-07-1"].hop == 2
    assert by_key["ip:81.2.69.10"].accounts == 21
    assert all(-1.0 <= n.x <= 1.0 and -1.0 <= n.y <= 1.0 for n in graph.nodes)


def test_the_cap_stops_the_graph_and_counts_what_it_left_out(fan_out, lead):
    graph = case_link_graph(fan_out, max_nodes=10, viewer=lead)

    assert len(graph.nodes) == 10
    # 12 of the 20 hop-1 accounts, then the 8 devices of the 8 drawn ones: found, not drawn.
    assert graph.hidden_nodes == 20
    assert max(max(edge) for edge in graph.edges) < 10


def test_a_hub_is_one_node_marked_as_such_and_not_followed(lead):
    tx("centre", ip="100.64.0.1", device="dev-shared")  # carrier NAT
    tx("friend", device="dev-shared")
    for i in range(30):
        tx(f"nat-user-{i:02d}", ip="100.64.0.1")

    graph = case_link_graph(account_case("centre"), hub_degree=5, viewer=lead)

    assert keys(graph) == {"account:centre", "ip:100.64.0.1", "device:dev-shared", "account:friend"}
    (hub,) = graph.hubs
    assert (hub.value, hub.hub, hub.accounts) == ("100.64.0.1", True, 6)  # counted up to 5 + 1
    assert hub.category == "shared hub (not followed)"


def test_account_nodes_say_fraud_and_open_case_and_link_to_their_case(lead):
    tx("centre", device="dev-1")
    tx("fraudster", device="dev-1", label="fraud")
    closed = Case.objects.create(account_id="closed-one", status="closed")
    tx("closed-one", device="dev-1", case=closed)

    graph = case_link_graph(account_case("centre"), viewer=lead)

    by_value = {n.value: n for n in graph.nodes}
    assert by_value["fraudster"].category == "account with confirmed fraud"
    assert by_value["closed-one"].category == "other account"
    assert by_value["closed-one"].url == f"/cases/{closed.reference}/"
    assert by_value["centre"].category == "this case's account"


@override_settings(FRAUDCASE_LINK_HUB_DEGREE=5)
def test_the_case_page_loads_the_panel_which_escapes_account_ids(client):
    tx("centre", ip="81.2.69.10", device="dev-1")
    tx("<img src=x onerror=alert(1)>", device="dev-1")
    for i in range(8):
        tx(f"nat-{i}", ip="81.2.69.10")
    rings_compute()
    case = account_case("centre")
    client.force_login(analyst_of_every_case())

    page = client.get(f"/cases/{case.reference}/").content.decode()
    panel = client.get(f"/cases/{case.reference}/links/", HTTP_HX_REQUEST="true")

    assert f'hx-get="/cases/{case.reference}/links/"' in page
    html = panel.content.decode()
    assert panel.status_code == 200
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "1 shared hub" in html and "more than 5 accounts" in html
    assert "ring #1" in html
    data = json.loads(html_lib.unescape(re.search(r'data-graph="([^"]*)"', html).group(1)))
    assert len(data["nodes"]) == 4 and {n["category"] for n in data["nodes"]} >= {
        "shared hub (not followed)"
    }
    assert next(n for n in data["nodes"] if n["kind"] == "ip")["url"].endswith("/ips/81.2.69.10/")
    assert all(
        n["url"] == f"/devices/{n['value']}/" for n in data["nodes"] if n["kind"] == "device"
    )
    assert 'href="/accounts/%3Cimg%20src=x%20onerror=alert(1)%3E/"' in html  # its account page


def test_an_unknown_case_is_a_404(client):
    client.force_login(make_user("ana", "analyst"))
    assert client.get("/cases/FC-999999/links/").status_code == 404


def test_an_analyst_sees_linked_accounts_of_other_queues_only_as_a_count(fan_out, client):
    analyst = analyst_of_every_case()
    others = make_queue("Others")
    Case.objects.filter(account_id__startswith="hop1-").update(queue=others)
    client.force_login(analyst)

    graph = case_link_graph(fan_out, viewer=analyst, max_nodes=500)
    html = client.get(f"/cases/{fan_out.reference}/links/", HTTP_HX_REQUEST="true").content.decode()

    # The 20 hop-1 accounts are hidden; the devices only they used, and the hop-2 accounts
    # behind them, are no longer linked to this case's account but stay readable.
    assert graph.hidden_accounts == 20
    assert not any(key.startswith("account:hop1-") for key in keys(graph))
    assert "account:centre" in keys(graph) and "ip:81.2.69.10" in keys(graph)
    assert "hop1-00" not in html
    assert "20 linked accounts of cases in queues you do not work, not shown." in html
