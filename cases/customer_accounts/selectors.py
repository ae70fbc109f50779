"""Reads for the account page (/accounts/<id>/): everything FraudCase holds about one
customer account, as the read policy lets the viewer see it.

The account exists for a viewer only through its cases: with none of them readable
(cases.policies.visible_cases) account_overview answers None and the page is a 404, the same
as for an account nobody has heard of. With some readable, the page shows the transactions,
devices, IPs, countries and labels of those cases; the rest of the account is counted only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from django.db.models import Count, Max, Min, QuerySet

from cases.ips.selectors.curation import attach_signals
from cases.models import Case, Label, LabelVersion, Transaction
from cases.policies import visible_cases

TRANSACTIONS_PER_PAGE = 50
# The timeline draws at most this many of the account's latest transactions.
TIMELINE_LIMIT = 2000
LABEL_HISTORY_LIMIT = 200
CASES_LIMIT = 200
# The usual-activity band needs this many of the account's transactions that are not fraud.
BASELINE_MIN_TRANSACTIONS = 5


@dataclass(frozen=True, slots=True)
class Used:
    """A device, IP or country the account used: how often and over which span."""

    value: str
    transactions: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class TransactionPage:
    items: list[Transaction]
    number: int
    pages: int
    total: int
    per_page: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.items) - 1 if self.items else 0


@dataclass(frozen=True, slots=True)
class AmountBaseline:
    """The account's usual amounts: over its transactions not labelled fraud (p10, median,
    p90, by nearest rank). None of them when fewer than BASELINE_MIN_TRANSACTIONS."""

    transactions: int
    p10: float | None = None
    median: float | None = None
    p90: float | None = None
    minimum_needed: int = BASELINE_MIN_TRANSACTIONS

    @property
    def enough(self) -> bool:
        return self.median is not None

    @property
    def as_chart(self) -> dict | None:
        """For the timeline script: the band and the median line, or None."""
        if not self.enough:
            return None
        return {"p10": self.p10, "median": self.median, "p90": self.p90, "n": self.transactions}


@dataclass
class AccountOverview:
    account_id: str
    first_seen: datetime | None
    last_seen: datetime | None
    transactions: TransactionPage
    cases: list[Case]
    devices: list[Used]
    ips: list[Used]
    countries: list[Used]
    label_counts: dict[str, int]
    label_history: list[LabelVersion]
    timeline: list[dict]
    baseline: AmountBaseline
    # What the viewer may not read: cases of other queues and their transactions, as counts.
    hidden: dict[str, int] = field(default_factory=dict)
    timeline_truncated: bool = False


def account_readable(account_id: str, *, viewer) -> bool:
    """The viewer may read at least one of the account's cases."""
    return visible_cases(viewer, Case.objects.filter(account_id=account_id)).exists()


def account_exists(account_id: str) -> bool:
    return Case.objects.filter(account_id=account_id).exists()


def account_overview(account_id: str, *, viewer, page: int = 1) -> AccountOverview | None:
    """The account as the viewer may see it, or None when they may read none of its cases
    (or it has none). Transactions newest first, TRANSACTIONS_PER_PAGE a page (a page past
    the last shows the last); cases newest first; devices, IPs and countries most used first;
    label history newest first (every version, superseded and held ones too)."""
    every_case = Case.objects.filter(account_id=account_id)
    cases = visible_cases(viewer, every_case)
    case_ids = list(cases.values_list("pk", flat=True))
    if not case_ids:
        return None
    transactions = Transaction.objects.filter(account_id=account_id, case_id__in=case_ids)
    span = transactions.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    total = transactions.count()
    pages = max(1, -(-total // TRANSACTIONS_PER_PAGE))
    number = min(max(1, page), pages)
    start = (number - 1) * TRANSACTIONS_PER_PAGE
    items = list(
        transactions.defer("embedding", "features")
        .select_related("case")
        .order_by("-occurred_at", "-id")[start : start + TRANSACTIONS_PER_PAGE]
    )
    labels = dict(transactions.values("label").annotate(n=Count("id")).values_list("label", "n"))
    timeline_rows = list(
        transactions.order_by("-occurred_at", "-id").values(
            "transaction_id", "occurred_at", "amount", "currency", "label", "decision",
            "outcome", "similarity_score", "case_id",
        )[: TIMELINE_LIMIT + 1]
    )  # fmt: skip
    truncated = len(timeline_rows) > TIMELINE_LIMIT
    timeline_rows = timeline_rows[:TIMELINE_LIMIT]
    timeline_rows.reverse()
    attach_signals(items)
    every_transaction = Transaction.objects.filter(account_id=account_id)
    return AccountOverview(
        account_id=account_id,
        first_seen=span["first"],
        last_seen=span["last"],
        transactions=TransactionPage(items, number, pages, total, TRANSACTIONS_PER_PAGE),
        cases=list(
            cases.select_related("assignee", "queue")
            .prefetch_related("reason_codes")
            .order_by("-opened_at", "-pk")[:CASES_LIMIT]
        ),
        devices=_used(transactions, "device_id"),
        ips=_used(transactions, "source_ip"),
        countries=_used(transactions, "country"),
        label_counts={
            "fraud": labels.get(Label.FRAUD, 0),
            "legitimate": labels.get(Label.LEGITIMATE, 0),
            "unlabelled": labels.get("", 0),
        },
        label_history=list(
            LabelVersion.objects.filter(transaction__account_id=account_id, case_id__in=case_ids)
            .select_related("transaction", "analyst", "case")
            .order_by("-decided_at", "-pk")[:LABEL_HISTORY_LIMIT]
        ),
        timeline=account_timeline_points(timeline_rows),
        baseline=amount_baseline(timeline_rows),
        hidden={
            "cases": every_case.count() - len(case_ids),
            "transactions": every_transaction.count() - total,
        },
        timeline_truncated=truncated,
    )


def _used(transactions: QuerySet, column: str) -> list[Used]:
    """Each non-empty value of column: its transactions and span, most used first."""
    present = transactions.exclude(**{f"{column}__isnull": True})
    if column != "source_ip":  # an inet column holds no empty text
        present = present.exclude(**{column: ""})
    rows = (
        present.values(column)
        .annotate(n=Count("id"), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by("-n", column)
    )
    return [Used(str(row[column]), row["n"], row["first"], row["last"]) for row in rows]


def timeline_status(row: dict) -> str:
    """What became of a transaction, in the timeline's legend's words."""
    if row["label"]:
        return f"labelled {row['label']}"
    if row["decision"]:
        return "decided, no label"
    return "flagged, undecided"


def account_timeline_points(rows: list[dict]) -> list[dict]:
    """Points for the account's timeline: time, amount, id and what became of each."""
    return [
        {
            "t": row["occurred_at"].isoformat(),
            "amount": float(row["amount"]),
            "currency": row["currency"],
            "id": row["transaction_id"],
            "score": row["similarity_score"],
            "outcome": row["outcome"],
            "decision": row["decision"],
            "label": row["label"],
            "group": timeline_status(row),
        }
        for row in rows
    ]


def amount_baseline(rows: list[dict]) -> AmountBaseline:
    """The account's usual amounts over its rows not labelled fraud (see AmountBaseline).
    Amounts of different currencies are compared as they are (no conversion here)."""
    amounts = sorted(float(row["amount"]) for row in rows if row["label"] != Label.FRAUD)
    if len(amounts) < BASELINE_MIN_TRANSACTIONS:
        return AmountBaseline(transactions=len(amounts))
    return AmountBaseline(
        transactions=len(amounts),
        p10=_nearest_rank(amounts, 0.10),
        median=float(median(amounts)),
        p90=_nearest_rank(amounts, 0.90),
    )


def _nearest_rank(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values (the smallest value with at least share
    of the values at or below it)."""
    rank = max(1, math.ceil(round(share * len(values), 9)))
    return values[min(rank, len(values)) - 1]


# --- the device page --------------------------------------------------------------------------

DEVICE_LIST_LIMIT = 50


@dataclass
class DeviceUsage:
    device_id: str
    first_seen: datetime | None
    last_seen: datetime | None
    accounts: list[Used]
    transactions: list[Transaction]  # the latest DEVICE_LIST_LIMIT
    transaction_total: int
    cases: list[Case]
    hidden: dict[str, int] = field(default_factory=dict)


def device_usage(device_id: str, *, viewer) -> DeviceUsage | None:
    """Who used one device, in the cases the viewer may read (the rest counted only); None
    when no readable case holds a transaction from it (the page is then a 404)."""
    every_transaction = Transaction.objects.filter(device_id=device_id)
    readable_cases = visible_cases(
        viewer, Case.objects.filter(pk__in=every_transaction.values("case_id"))
    )
    case_ids = list(readable_cases.values_list("pk", flat=True))
    if not device_id or not case_ids:
        return None
    transactions = every_transaction.filter(case_id__in=case_ids)
    span = transactions.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    total = transactions.count()
    every_case = every_transaction.values("case_id").distinct().count()
    accounts = _used(transactions, "account_id")
    every_account = every_transaction.values("account_id").distinct().count()
    latest = list(
        transactions.defer("embedding", "features")
        .select_related("case")
        .order_by("-occurred_at", "-id")[:DEVICE_LIST_LIMIT]
    )
    attach_signals(latest)  # curation's VPN / proxy / Tor badges, as on the other pages
    return DeviceUsage(
        device_id=device_id,
        first_seen=span["first"],
        last_seen=span["last"],
        accounts=accounts,
        transactions=latest,
        transaction_total=total,
        cases=list(readable_cases.order_by("-opened_at", "-pk")[:CASES_LIMIT]),
        hidden={
            "cases": every_case - len(case_ids),
            "accounts": every_account - len(accounts),
            "transactions": every_transaction.count() - total,
        },
    )


def device_exists(device_id: str) -> bool:
    return bool(device_id) and Transaction.objects.filter(device_id=device_id).exists()
