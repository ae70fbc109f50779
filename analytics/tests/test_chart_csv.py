"""Every chart of every dashboard, and the IP map: its CSV download equals the table behind it
on the page, cell for cell, over a dataset that gives each chart rows."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.core.cache import cache

from analytics.rollups import rollups_rebuild
from analytics.tests.builders import labelled_transaction, quality_dataset, shadow_scores
from cases.models import ExchangeRate, Transaction
from cases.tests.workflow_fixtures import make_user
from conftest import client_for

pytestmark = pytest.mark.django_db

RANGE = "since=2026-11-01&until=2026-11-30"
PAGES = ["quality", "drift", "operations", "money", "labels", "curation", "ip-map"]


class Tables(HTMLParser):
    """The text of each table's cells, by the table's id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id", "").endswith("-table"):
            self._table = attrs["id"].removesuffix("-table")
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self.tables[self._table].append([])
        elif self._table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif self._cell is not None and tag in ("td", "th"):
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def dataset() -> None:
    ana = make_user("ana", "analyst")
    quality_dataset(analyst=ana)
    ExchangeRate.objects.create(
        currency="USD", quote_currency="EUR", rate=Decimal("0.9"), valid_from=date(2026, 1, 1)
    )
    for currency, amount in (("USD", "12.34"), ("KRW", "5000.00")):  # KRW: no rate
        labelled_transaction(score=0.8, label="fraud", outcome="block", currency=currency,
                             amount=amount, analyst=ana)  # fmt: skip
    for n, ip in enumerate(["8.8.8.8", "8.8.8.8", "81.2.69.142", "10.0.0.1"]):
        Transaction.objects.filter(
            pk=labelled_transaction(score=0.5, label="", occurred_at=datetime(2026, 11, 3 + n, tzinfo=UTC)).pk
        ).update(source_ip=ip)  # fmt: skip
    # A shadow model's scores of m1's labelled transactions: the page's shadow comparison.
    shadow_scores("m1-candidate", {
        tx_id: (round(1 - score, 2), "block" if score < 0.5 else "approve")
        for tx_id, score in Transaction.objects.filter(model_version="m1", label__in=["fraud", "legitimate"])
        .values_list("transaction_id", "similarity_score")
    })  # fmt: skip
    rollups_rebuild()


def test_every_charts_csv_is_its_table():
    cache.clear()
    dataset()
    client = client_for(make_user("lea", "lead"))
    checked = []
    for name in PAGES:
        url = f"/analytics/{name}/?{RANGE}" + ("&champion=m1" if name == "quality" else "")
        page = client.get(url)
        assert page.status_code == 200, name
        html = page.content.decode()
        parser = Tables()
        parser.feed(html)
        chart_ids = re.findall(r'id="([a-z0-9-]+)-csv"', html)
        assert chart_ids, name
        for chart_id in chart_ids:
            download = client.get(f"{url}&csv={chart_id}")
            assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO(download.content.decode())))
            table = parser.tables[chart_id]
            if len(rows) == 1:  # no figures: the table says so in one cell
                assert len(table) == 2 and len(table[1]) == 1, chart_id
                table = table[:1]
            assert rows == table, chart_id
            checked.append((chart_id, len(rows) - 1))
    with_rows = [chart_id for chart_id, rows in checked if rows]
    # Every chart of the built dataset has figures but the ones it cannot give (no drift
    # reference days, no SLA in force, no label export, no ingest run, no guard hold, no flips).
    assert {"quality-pr", "quality-versions", "quality-confusion-1", "money-daily",
            "money-no-rate", "curation-countries", "curation-ips", "ip-map-points",
            "labels-per-analyst", "ops-flagged", "quality-shadow-calls", "quality-shadow-pr",
            "quality-shadow-disagreement"} <= set(with_rows)  # fmt: skip
    assert len(checked) >= 25
