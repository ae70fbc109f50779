"""Reads of the fraud ring snapshots (computed by cases/services/rings.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from cases.models import FINISHED_CASE_STATUSES, Case, Ring, RingMember, RingSnapshot
from cases.policies import visible_account_ids, visible_cases

RING_SORTS = {
    # Leads first: the most members already confirmed as fraud, then the riskiest open case
    # among the members (its priority), then the smaller ring (tighter, easier to work).
    "fraud": ("-fraud_accounts", "-risk", "size"),
    "risk": ("-risk", "-fraud_accounts", "size"),
    "size": ("-size", "-fraud_accounts", "-risk"),
}
RINGS_PER_PAGE = 50
MEMBERS_SHOWN = 40  # per ring; the rest are counted


@dataclass
class RingMemberRow:
    account_id: str
    case_reference: str = ""
    case_open: bool = False


@dataclass
class RingRow:
    ring: Ring
    rank: int
    members: list[RingMemberRow] = field(default_factory=list)
    hidden_members: int = 0  # of the shown slice: accounts of other queues' cases, a count

    @property
    def more_members(self) -> int:
        return self.ring.size - len(self.members) - self.hidden_members


@dataclass(frozen=True)
class RingFilters:
    """Which rings the page lists: at most max_size accounts (None: any size), at least
    min_fraud members with confirmed fraud, a risk of at least min_risk."""

    max_size: int | None = None
    min_fraud: int = 0
    min_risk: int = 0

    @classmethod
    def default(cls) -> RingFilters:
        return cls(max_size=settings.FRAUDCASE_RING_MAX_SIZE)

    def condition(self) -> Q:
        condition = Q(fraud_accounts__gte=self.min_fraud, risk__gte=self.min_risk)
        if self.max_size is not None:
            condition &= Q(size__lte=self.max_size)
        return condition


@dataclass
class RingsPage:
    snapshot: RingSnapshot | None
    rows: list[RingRow]
    sort: str
    page: int
    pages: int
    filters: RingFilters = field(default_factory=RingFilters)
    listed: int = 0  # rings that pass the filters
    left_out: int = 0  # rings of the snapshot the filters leave out


def latest_ring_snapshot() -> RingSnapshot | None:
    return RingSnapshot.objects.filter(computed_at__isnull=False).order_by("-computed_at").first()


def rings_page(
    *, viewer, sort: str = "fraud", page: int = 1, filters: RingFilters | None = None
) -> RingsPage:
    """One page of the newest snapshot's rings that pass the filters (default: at most
    FRAUDCASE_RING_MAX_SIZE accounts), in the chosen order, each member with its open case
    (else its newest): a fixed number of queries whatever the page holds. Members with no
    case the viewer may read (cases.policies) are counted, not named."""
    sort = sort if sort in RING_SORTS else "fraud"
    filters = RingFilters.default() if filters is None else filters
    snapshot = latest_ring_snapshot()
    if snapshot is None:
        return RingsPage(snapshot=None, rows=[], sort=sort, page=1, pages=0, filters=filters)
    listed_rings = Ring.objects.filter(filters.condition(), snapshot=snapshot)
    listed = listed_rings.count()
    pages = max(1, -(-listed // RINGS_PER_PAGE))
    page = min(max(1, page), pages)
    offset = (page - 1) * RINGS_PER_PAGE
    rings = list(listed_rings.order_by(*RING_SORTS[sort], "id")[offset : offset + RINGS_PER_PAGE])
    shown = {ring.pk: ring.account_ids[:MEMBERS_SHOWN] for ring in rings}
    every_account = [account for accounts in shown.values() for account in accounts]
    readable = visible_account_ids(viewer, every_account)
    cases = account_cases(list(readable), cases=visible_cases(viewer))
    rows = []
    for rank, ring in enumerate(rings, start=offset + 1):
        members = []
        hidden = 0
        for account in shown[ring.pk]:
            if account not in readable:
                hidden += 1
                continue
            found = cases.get(account)
            members.append(
                RingMemberRow(
                    account_id=account,
                    case_reference=found.reference if found else "",
                    case_open=bool(found and found.status not in FINISHED_CASE_STATUSES),
                )
            )
        rows.append(RingRow(ring=ring, rank=rank, members=members, hidden_members=hidden))
    return RingsPage(
        snapshot=snapshot, rows=rows, sort=sort, page=page, pages=pages, filters=filters,
        listed=listed, left_out=snapshot.ring_count - listed,
    )  # fmt: skip


def account_cases(account_ids: list[str], *, cases=None) -> dict[str, Case]:
    """Each account's open case, else its newest case, of the given cases (default all; one
    query)."""
    best: dict[str, Case] = {}
    cases = Case.objects.all() if cases is None else cases
    for found in cases.filter(account_id__in=account_ids).only("id", "account_id", "status"):
        current = best.get(found.account_id)
        rank = (found.status not in FINISHED_CASE_STATUSES, found.pk)
        if current is None or rank > (current.status not in FINISHED_CASE_STATUSES, current.pk):
            best[found.account_id] = found
    return best


def account_ring(account_id: str) -> Ring | None:
    """The ring of the newest snapshot that holds this account, if any."""
    snapshot = latest_ring_snapshot()
    if snapshot is None:
        return None
    member = (
        RingMember.objects.select_related("ring")
        .filter(account_id=account_id, ring__snapshot=snapshot)
        .first()
    )
    return member.ring if member else None


def ring_rank(ring: Ring, *, sort: str = "fraud", filters: RingFilters | None = None) -> int | None:
    """The ring's position (1-based) in the rings page's order among the rings the filters
    (default: the page's) list; None when they leave it out (too big, say). Two queries."""
    filters = RingFilters.default() if filters is None else filters
    rings = Ring.objects.filter(filters.condition(), snapshot_id=ring.snapshot_id)
    if not rings.filter(pk=ring.pk).exists():
        return None
    # Ahead: better on the first key, or equal on it and better on the next, ... then by id.
    ahead, equal = Q(), Q()
    conditions = []
    for key in RING_SORTS[sort]:
        column = key.lstrip("-")
        better = "gt" if key.startswith("-") else "lt"
        conditions.append(equal & Q(**{f"{column}__{better}": getattr(ring, column)}))
        equal &= Q(**{column: getattr(ring, column)})
    conditions.append(equal & Q(id__lt=ring.pk))
    for condition in conditions:
        ahead |= condition
    return rings.filter(ahead).count() + 1
