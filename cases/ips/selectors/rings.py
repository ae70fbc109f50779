"""Reads of the fraud ring snapshots (computed by cases/services/rings.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cases.models import FINISHED_CASE_STATUSES, Case, Ring, RingMember, RingSnapshot
from cases.policies import visible_account_ids, visible_cases

RING_SORTS = {
    # Rings with the most members already confirmed as fraud first, then the biggest.
    "fraud": ("-fraud_accounts", "-size", "id"),
    "size": ("-size", "-fraud_accounts", "id"),
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


@dataclass
class RingsPage:
    snapshot: RingSnapshot | None
    rows: list[RingRow]
    sort: str
    page: int
    pages: int


def latest_ring_snapshot() -> RingSnapshot | None:
    return RingSnapshot.objects.filter(computed_at__isnull=False).order_by("-computed_at").first()


def rings_page(*, viewer, sort: str = "fraud", page: int = 1) -> RingsPage:
    """One page of the newest snapshot's rings in the chosen order, each member with its open
    case (else its newest): a fixed number of queries whatever the page holds. Members with no
    case the viewer may read (cases.policies) are counted, not named."""
    sort = sort if sort in RING_SORTS else "fraud"
    snapshot = latest_ring_snapshot()
    if snapshot is None:
        return RingsPage(snapshot=None, rows=[], sort=sort, page=1, pages=0)
    pages = max(1, -(-snapshot.ring_count // RINGS_PER_PAGE))
    page = min(max(1, page), pages)
    offset = (page - 1) * RINGS_PER_PAGE
    rings = list(
        Ring.objects.filter(snapshot=snapshot).order_by(*RING_SORTS[sort])[
            offset : offset + RINGS_PER_PAGE
        ]
    )
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
    return RingsPage(snapshot=snapshot, rows=rows, sort=sort, page=page, pages=pages)


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


def ring_rank(ring: Ring, *, sort: str = "fraud") -> int:
    """The ring's position in the rings page's order (1-based)."""
    first, second, _ = RING_SORTS[sort]
    a, b = first.lstrip("-"), second.lstrip("-")
    ahead = Ring.objects.filter(snapshot_id=ring.snapshot_id).filter(
        **{f"{a}__gt": getattr(ring, a)}
    ).count() + Ring.objects.filter(
        snapshot_id=ring.snapshot_id, **{a: getattr(ring, a), f"{b}__gt": getattr(ring, b)}
    ).count() + Ring.objects.filter(
        snapshot_id=ring.snapshot_id, **{a: getattr(ring, a), b: getattr(ring, b)}, id__lt=ring.pk
    ).count()  # fmt: skip
    return ahead + 1
