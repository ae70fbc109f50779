"""Fraud rings: connected groups of accounts that share IPs or devices, as stored snapshots.

The links come from SQL (distinct account-IP and account-device pairs, with each IP's and
device's account count); shared infrastructure used by more than FRAUDCASE_LINK_HUB_DEGREE
accounts is dropped there, so a carrier NAT cannot glue the whole population into one ring.
Components are found by union-find in Python over the remaining links.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cases import dispatch
from cases.audit.trail import audit_record, refusals_audited
from cases.models import (
    FINISHED_CASE_STATUSES,
    AuditAction,
    Case,
    Label,
    Ring,
    RingMember,
    RingSnapshot,
)
from cases.policies import require_permission

logger = logging.getLogger(__name__)

# At most this many shared IPs and devices are stored per ring (the counts keep the total).
RING_SHARED_LIMIT = 50
# One computation at a time: a second request while one runs is a no-op.
RINGS_LOCK = 0x52494E47  # "RING"
RINGS_REFRESH_REQUESTED = AuditAction.RINGS_REFRESH_REQUESTED

# Distinct (infrastructure, account) pairs of IPs / devices that 2+ accounts share, with each
# one's account count; those above the hub degree come back as one count row instead.
_LINKS_SQL = """
WITH links AS MATERIALIZED (
    SELECT DISTINCT {key} AS infra, account_id
    FROM cases_transaction WHERE {present}
), degrees AS MATERIALIZED (
    SELECT infra, count(*) AS accounts FROM links GROUP BY infra HAVING count(*) > 1
)
SELECT {text}, l.account_id FROM links l JOIN degrees d USING (infra)
WHERE d.accounts <= %(hub)s
UNION ALL
SELECT NULL, count(*)::text FROM degrees WHERE accounts > %(hub)s
"""
_INFRA = {
    "ip": {"key": "source_ip", "present": "source_ip IS NOT NULL", "text": "host(l.infra)"},
    "device": {"key": "device_id", "present": "device_id <> ''", "text": "l.infra"},
}


@dataclass
class _Component:
    accounts: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def add(self, name: str) -> int:
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.parent)
            self.parent.append(found)
            self.names.append(name)
        return found

    def find(self, item: int) -> int:
        parent = self.parent
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:  # path compression
            parent[item], item = root, parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[root_b] = root_a


def _shared_links(cursor, kind: str, hub_degree: int) -> tuple[dict[str, list[str]], int]:
    """{infrastructure: [accounts]} for IPs or devices shared by 2..hub_degree accounts, and
    the number of hubs left out."""
    cursor.execute(_LINKS_SQL.format(**_INFRA[kind]), {"hub": hub_degree})
    accounts_by_infra: dict[str, list[str]] = defaultdict(list)
    hubs = 0
    for infra, account in cursor.fetchall():
        if infra is None:
            hubs = int(account)
        else:
            accounts_by_infra[infra].append(account)
    return accounts_by_infra, hubs


def find_rings(
    ip_accounts: dict[str, list[str]], device_accounts: dict[str, list[str]]
) -> list[_Component]:
    """Connected groups (2+ accounts) of the account-IP-device graph, in no particular order."""
    accounts = _UnionFind()
    for accounts_by_infra in (ip_accounts, device_accounts):
        for members in accounts_by_infra.values():
            first = accounts.add(members[0])
            for account in members[1:]:
                accounts.union(first, accounts.add(account))
    components: dict[int, _Component] = defaultdict(_Component)
    for number, name in enumerate(accounts.names):
        components[accounts.find(number)].accounts.append(name)
    for infra, members in ip_accounts.items():
        components[accounts.find(accounts.index[members[0]])].ips.append(infra)
    for infra, members in device_accounts.items():
        components[accounts.find(accounts.index[members[0]])].devices.append(infra)
    return [component for component in components.values() if len(component.accounts) > 1]


def rings_compute(*, requested_by_name: str = "") -> RingSnapshot | None:
    """Recompute every ring from the transactions into a new snapshot, and drop older ones.

    Idempotent and safe to retry: one snapshot is written in one transaction; a run that
    finds another one in progress (advisory lock) returns None and changes nothing.
    """
    hub_degree = settings.FRAUDCASE_LINK_HUB_DEGREE
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RINGS_LOCK])
            if not cursor.fetchone()[0]:
                logger.info("rings: another computation is running; skipped")
                return None
            # The distinct pairs of a million transactions hash in memory instead of on disk.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            ip_accounts, hub_ips = _shared_links(cursor, "ip", hub_degree)
            device_accounts, hub_devices = _shared_links(cursor, "device", hub_degree)
            components = find_rings(ip_accounts, device_accounts)
            cursor.execute(
                "SELECT DISTINCT account_id FROM cases_transaction WHERE label = %s",
                [Label.FRAUD.value],
            )
            fraud_accounts = {row[0] for row in cursor.fetchall()}
        # Each account with an open case, and that case's priority (the ring's risk).
        open_case_priority = dict(
            Case.objects.exclude(status__in=FINISHED_CASE_STATUSES).values_list(
                "account_id", "priority"
            )
        )

        snapshot = RingSnapshot.objects.create(
            hub_degree=hub_degree, hub_ips=hub_ips, hub_devices=hub_devices,
            requested_by_name=requested_by_name[:150],
        )  # fmt: skip
        rings = []
        for component in components:
            members = sorted(component.accounts)
            rings.append(
                Ring(
                    snapshot=snapshot, size=len(members),
                    fraud_accounts=sum(1 for a in members if a in fraud_accounts),
                    open_case_accounts=sum(1 for a in members if a in open_case_priority),
                    risk=max((open_case_priority.get(a, 0) for a in members), default=0),
                    account_ids=members,
                    shared_ips=sorted(component.ips)[:RING_SHARED_LIMIT],
                    shared_devices=sorted(component.devices)[:RING_SHARED_LIMIT],
                    shared_ip_count=len(component.ips),
                    shared_device_count=len(component.devices),
                )
            )  # fmt: skip
        Ring.objects.bulk_create(rings, batch_size=2000)
        RingMember.objects.bulk_create(
            (RingMember(ring=ring, account_id=account) for ring in rings for account in ring.account_ids),
            batch_size=5000,
        )  # fmt: skip
        with connection.cursor() as cursor:
            # Plain SQL: the ORM's cascade would load every old member into Python first.
            older = "SELECT id FROM cases_ringsnapshot WHERE id <> %s"
            cursor.execute(
                "DELETE FROM cases_ringmember WHERE ring_id IN "
                f"(SELECT id FROM cases_ring WHERE snapshot_id IN ({older}))",
                [snapshot.pk],
            )
            cursor.execute(f"DELETE FROM cases_ring WHERE snapshot_id IN ({older})", [snapshot.pk])
            cursor.execute(f"DELETE FROM cases_ringsnapshot WHERE id IN ({older})", [snapshot.pk])
        snapshot.linked_accounts = sum(ring.size for ring in rings)
        snapshot.ring_count = len(rings)
        snapshot.computed_at = timezone.now()
        snapshot.duration_ms = round((time.perf_counter() - started) * 1000)
        snapshot.save(update_fields=["linked_accounts", "ring_count", "computed_at", "duration_ms"])
    logger.info(
        "rings: %d rings over %d accounts in %d ms (%d hub IPs, %d hub devices left out)",
        snapshot.ring_count, snapshot.linked_accounts, snapshot.duration_ms, hub_ips, hub_devices,
    )  # fmt: skip
    return snapshot


def rings_request_refresh(*, actor) -> None:
    """A lead asks for fresh rings now: audited, queued to a worker once this commits."""
    with refusals_audited(actor=actor, attempted="recompute the rings", object_type="cases.ring"):
        # Leads and admins, who see every queue, may start a computation over all accounts.
        require_permission(actor, "work_any_case", attempted="recompute the rings")
    with transaction.atomic():
        audit_record(
            actor=actor, action=RINGS_REFRESH_REQUESTED, object_type="cases.ringsnapshot",
            after={"hub_degree": settings.FRAUDCASE_LINK_HUB_DEGREE},
        )  # fmt: skip
        name = actor.get_username()
        dispatch.queue_on_commit(dispatch.COMPUTE_RINGS, requested_by_name=name)
