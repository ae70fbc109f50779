"""Curation's network signals: read from the metadata's usual spellings (exact values), shown
as badges on transactions, the case header and the IP page, and the IP page's ASN taken from
curation when no ASN database is configured."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.ips.selectors.curation import (
    NetworkSignals,
    combined,
    ip_signals,
    signals_from_metadata,
    transaction_signals,
)
from cases.models import CurationRecord, IngestRun
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_demo_metadata_reads_as_signals():
    demo = {"asn": 4711, "isp": "Helix Hosting", "connection_type": "hosting",
            "is_vpn": True, "is_proxy": True, "is_tor": False}  # fmt: skip
    assert signals_from_metadata(demo) == NetworkSignals(
        vpn=True, proxy=True, hosting=True, tor=False, asn=4711, as_org="Helix Hosting"
    )
    assert signals_from_metadata(demo).badges == [
        ("vpn", "VPN"), ("proxy", "Proxy"), ("hosting", "Hosting"),
    ]  # fmt: skip


def test_other_spellings_and_text_values_are_read():
    other = {"VPN": "yes", "Tor_Exit_Node": 1, "usage_type": "DataCenter", "AS_Number": "AS64500",
             "as_org": "Example Transit", "proxy": "no"}  # fmt: skip
    signals = signals_from_metadata(other)
    assert signals == NetworkSignals(
        vpn=True, proxy=False, hosting=True, tor=True, asn=64500, as_org="Example Transit"
    )
    assert signals.badges == [("tor", "Tor"), ("vpn", "VPN"), ("hosting", "Hosting")]
    assert signals.asn_text == "AS64500 Example Transit"


def test_what_the_metadata_does_not_say_sets_nothing():
    assert signals_from_metadata({}) == NetworkSignals()
    assert signals_from_metadata(["not", "an", "object"]) == NetworkSignals()
    assert signals_from_metadata({"is_vpn": "maybe", "asn": "unknown", "is_tor": 2}) == (
        NetworkSignals()
    )
    assert not NetworkSignals() and NetworkSignals().badges == []


def test_combined_sets_any_flag_and_takes_the_most_named_asn():
    result = combined([
        NetworkSignals(vpn=True, asn=200, as_org="B"),
        NetworkSignals(tor=True, asn=100, as_org="A"),
        NetworkSignals(asn=100),
    ])  # fmt: skip
    assert result == NetworkSignals(vpn=True, tor=True, asn=100, as_org="A")


def record(index: int, ip: str, transaction_id: str, metadata: dict) -> CurationRecord:
    run, _ = IngestRun.objects.get_or_create(
        bucket="b", key="curation/x.jsonl", etag="e", defaults={"kind": "curation"}
    )
    return CurationRecord.objects.create(
        dedupe_key=f"k{index}", source_ip=ip, transaction_id=transaction_id, account_id="acc",
        metadata=metadata, ingest_run=run, source_row=index + 1,
    )  # fmt: skip


@pytest.fixture
def world():
    analyst = make_user("ana", "analyst")
    queue = make_queue("General", analyst, is_default=True)
    case = make_case(queue, transactions=2)
    first, second = case.transactions.order_by("pk")
    record(0, first.source_ip, first.transaction_id,
           {"asn": 64500, "isp": "Kestrel VPS", "connection_type": "hosting", "is_vpn": True})  # fmt: skip
    record(1, first.source_ip, "", {"is_tor": True})
    return {"analyst": analyst, "case": case, "first": first, "second": second}


def test_transaction_signals_per_transaction(world):
    found = transaction_signals([world["first"].transaction_id, world["second"].transaction_id])
    assert found == {
        world["first"].transaction_id: NetworkSignals(
            vpn=True, hosting=True, asn=64500, as_org="Kestrel VPS"
        )
    }
    assert ip_signals(world["first"].source_ip) == NetworkSignals(
        vpn=True, hosting=True, tor=True, asn=64500, as_org="Kestrel VPS"
    )


def test_the_case_page_shows_badges_on_the_row_and_the_header(world):
    body = (
        client_for(world["analyst"])
        .get(reverse("case-detail", args=[world["case"].reference]))
        .content.decode()
    )
    header = body.split('id="case-network"')[1].split("</span></span>")[0]
    assert "net-badge-vpn" in header and "net-badge-hosting" in header
    first_row = body.split(f'id="tx-row-{world["first"].pk}"')[1].split("</tr>")[0]
    second_row = body.split(f'id="tx-row-{world["second"].pk}"')[1].split("</tr>")[0]
    assert ">VPN<" in first_row and ">Hosting<" in first_row and "AS64500 Kestrel VPS" in first_row
    assert "net-badge" not in second_row


def test_the_ip_page_takes_the_asn_from_curation_without_an_asn_database(world, settings):
    settings.FRAUDCASE_GEOIP_ASN_PATH = ""
    body = (
        client_for(world["analyst"])
        .get(reverse("ip-detail", args=[world["first"].source_ip]))
        .content.decode()
    )
    asn = body.split('id="ip-asn">')[1].split("</dd>")[0]
    assert asn.startswith("AS64500 Kestrel VPS")
    assert "from curation records; no ASN database configured" in asn
    assert "ASN unknown" not in asn
    signals = body.split('id="ip-signals">')[1].split("</dd>")[0]
    assert [label in signals for label in (">Tor<", ">VPN<", ">Hosting<", ">Proxy<")] == [
        True, True, True, False,
    ]  # fmt: skip
