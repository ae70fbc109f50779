"""Link analysis around a case: accounts, the IPs and devices they used, and the accounts those
lead to, two account hops out from the case's account.

Shared infrastructure (an IP or device used by more than FRAUDCASE_LINK_HUB_DEGREE accounts,
such as a carrier NAT) is recognised by its degree, counted with a bounded query, drawn as one
hub node and never followed. The graph stops at FRAUDCASE_LINK_GRAPH_MAX_NODES nodes; what it
found beyond that is counted, not drawn. The layout is computed here (a force layout in numpy
over at most a few hundred nodes: milliseconds), so the page only draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection
from django.urls import reverse

from cases.ips.selectors.rings import account_cases
from cases.models import FINISHED_CASE_STATUSES, Case, Label
from cases.policies import sees_every_case, visible_account_ids

ACCOUNT, IP, DEVICE = "account", "ip", "device"

# Per kind: the column, its text form in SQL, how a bound value array is typed, the filter for
# rows that have one.
_COLUMNS = {
    IP: ("source_ip", "host(source_ip)", "inet[]", "source_ip IS NOT NULL"),
    DEVICE: ("device_id", "device_id", "text[]", "device_id <> ''"),
}


@dataclass
class LinkNode:
    key: str  # "<kind>:<value>", unique in the graph
    kind: str
    value: str
    hop: int  # accounts: account hops from the case's account; IPs/devices: hop of discovery
    hub: bool = False
    accounts: int = 0  # IPs and devices: accounts that used it (hubs: "more than" the threshold)
    fraud: bool = False  # accounts: some transaction labelled fraud
    case_reference: str = ""  # accounts: the open case, else the newest one
    case_open: bool = False
    url: str = ""
    x: float = 0.0
    y: float = 0.0

    @property
    def category(self) -> str:
        if self.kind == ACCOUNT:
            if self.hop == 0:
                return "this case's account"
            if self.fraud:
                return "account with confirmed fraud"
            return "account with an open case" if self.case_open else "other account"
        if self.hub:
            return "shared hub (not followed)"
        return "IP address" if self.kind == IP else "device"


@dataclass
class LinkGraph:
    account_id: str
    nodes: list[LinkNode] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    hidden_nodes: int = 0  # found but over the cap
    hidden_accounts: int = 0  # linked accounts whose cases the viewer may not read
    max_nodes: int = 0
    hub_degree: int = 0
    hops: int = 2

    @property
    def hubs(self) -> list[LinkNode]:
        return [node for node in self.nodes if node.hub]

    @property
    def linked_accounts(self) -> int:
        return sum(1 for node in self.nodes if node.kind == ACCOUNT and node.hop > 0)

    def chart_data(self) -> dict:
        """What static/js/links.js draws (given to the page with json_script)."""
        return {
            "nodes": [
                {
                    "kind": node.kind, "value": node.value, "category": node.category,
                    "x": round(node.x, 4), "y": round(node.y, 4), "hub": node.hub,
                    "accounts": node.accounts, "fraud": node.fraud,
                    "case": node.case_reference, "url": node.url,
                }
                for node in self.nodes
            ],
            "edges": self.edges,
        }  # fmt: skip


class _Builder:
    def __init__(self, graph: LinkGraph) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.hidden: set[str] = set()
        self.edges: set[tuple[int, int]] = set()

    def add(self, node: LinkNode) -> int | None:
        """The node's index, adding it while there is room; None once over the cap."""
        if node.key in self.index:
            return self.index[node.key]
        if len(self.graph.nodes) >= self.graph.max_nodes:
            self.hidden.add(node.key)
            return None
        self.index[node.key] = len(self.graph.nodes)
        self.graph.nodes.append(node)
        return self.index[node.key]

    def link(self, a: int | None, b: int | None) -> None:
        if a is not None and b is not None and a != b:
            self.edges.add((min(a, b), max(a, b)))


def case_link_graph(
    case: Case,
    *,
    viewer,
    hops: int = 2,
    max_nodes: int | None = None,
    hub_degree: int | None = None,
) -> LinkGraph:
    """The link graph around the case's account, laid out, at most max_nodes nodes.

    Linked accounts with no case the viewer may read are left out and counted
    (hidden_accounts), with the IPs and devices that only they connect.

    Nodes come in breadth-first order (the case's account first, then its IPs and devices,
    the accounts they lead to, and so on), sorted by value within a step, so the same data
    always gives the same graph. SQL: a fixed number of queries per hop.
    """
    graph = LinkGraph(
        account_id=case.account_id, hops=hops,
        max_nodes=max_nodes or settings.FRAUDCASE_LINK_GRAPH_MAX_NODES,
        hub_degree=hub_degree or settings.FRAUDCASE_LINK_HUB_DEGREE,
    )  # fmt: skip
    builder = _Builder(graph)
    builder.add(
        LinkNode(key=f"{ACCOUNT}:{case.account_id}", kind=ACCOUNT, value=case.account_id, hop=0)
    )
    frontier = [case.account_id]
    for hop in range(1, hops + 1):
        if not frontier:
            break
        used = _infrastructure_of(frontier)  # [(account, kind, value)]
        new_infra = sorted({(kind, value) for _, kind, value in used} - _known(builder))
        degrees = _degrees(new_infra, cap=graph.hub_degree + 1)
        for kind, value in new_infra:
            accounts = degrees.get((kind, value), 0)
            builder.add(LinkNode(
                key=f"{kind}:{value}", kind=kind, value=value, hop=hop,
                hub=accounts > graph.hub_degree, accounts=accounts,
            ))  # fmt: skip
        for account, kind, value in used:
            builder.link(
                builder.index.get(f"{ACCOUNT}:{account}"), builder.index.get(f"{kind}:{value}")
            )
        # Only drawn, non-hub infrastructure is followed to further accounts.
        followed = [
            (node.kind, node.value) for node in graph.nodes
            if node.kind != ACCOUNT and node.hop == hop and not node.hub
        ]  # fmt: skip
        frontier = []
        for kind, value, account in _accounts_using(followed):
            key = f"{ACCOUNT}:{account}"
            is_new = key not in builder.index
            position = builder.add(LinkNode(key=key, kind=ACCOUNT, value=account, hop=hop))
            builder.link(position, builder.index.get(f"{kind}:{value}"))
            if is_new and position is not None:
                frontier.append(account)
    graph.edges = sorted(builder.edges)
    graph.hidden_nodes = len(builder.hidden)
    if not sees_every_case(viewer):
        _hide_unreadable_accounts(graph, viewer)
    _describe_accounts(graph)
    _lay_out(graph)
    return graph


def _hide_unreadable_accounts(graph: LinkGraph, viewer) -> None:
    """Drop linked accounts of other queues (and what only they connect): counts, not ids."""
    linked = {node.value for node in graph.nodes if node.kind == ACCOUNT and node.hop > 0}
    readable = visible_account_ids(viewer, linked)
    kept = [
        index for index, node in enumerate(graph.nodes)
        if node.kind != ACCOUNT or node.hop == 0 or node.value in readable
    ]  # fmt: skip
    graph.hidden_accounts = len(linked - readable)
    position = {old: new for new, old in enumerate(kept)}
    edges = [(position[a], position[b]) for a, b in graph.edges if a in position and b in position]
    connected = {0} | {end for edge in edges for end in edge}
    # IPs and devices left without an edge were reached only through hidden accounts.
    final = [new for new in range(len(kept)) if new in connected]
    renumber = {old: new for new, old in enumerate(final)}
    graph.nodes = [graph.nodes[kept[index]] for index in final]
    graph.edges = sorted((renumber[a], renumber[b]) for a, b in edges)


def _known(builder: _Builder) -> set[tuple[str, str]]:
    return {(n.kind, n.value) for n in builder.graph.nodes if n.kind != ACCOUNT} | {
        tuple(key.split(":", 1)) for key in builder.hidden if not key.startswith(ACCOUNT)
    }


def _infrastructure_of(accounts: list[str]) -> list[tuple[str, str, str]]:
    rows = []
    with connection.cursor() as cursor:
        for kind, (_, text, _, present) in _COLUMNS.items():
            cursor.execute(
                f"SELECT DISTINCT account_id, {text} FROM cases_transaction "
                f"WHERE account_id = ANY(%s) AND {present}",
                [accounts],
            )
            rows.extend((account, kind, value) for account, value in cursor.fetchall())
    rows.sort()
    return rows


def _degrees(infra: list[tuple[str, str]], *, cap: int) -> dict[tuple[str, str], int]:
    """Distinct accounts per IP / device, counted up to cap (a NAT's thousands stop at cap)."""
    counts: dict[tuple[str, str], int] = {}
    with connection.cursor() as cursor:
        for kind, (column, _, array_type, _) in _COLUMNS.items():
            values = [value for k, value in infra if k == kind]
            if not values:
                continue
            cursor.execute(
                f"SELECT v.value, (SELECT count(*) FROM (SELECT DISTINCT account_id "
                f"FROM cases_transaction WHERE {column} = v.value LIMIT %s) AS used) "
                f"FROM unnest(%s::{array_type}) AS v(value)",
                [cap, values],
            )
            for value, accounts in cursor.fetchall():
                counts[(kind, str(value))] = accounts
    return counts


def _accounts_using(infra: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    rows = []
    with connection.cursor() as cursor:
        for kind, (column, text, array_type, _) in _COLUMNS.items():
            values = [value for k, value in infra if k == kind]
            if not values:
                continue
            cursor.execute(
                f"SELECT DISTINCT {text}, account_id FROM cases_transaction "
                f"WHERE {column} = ANY(%s::{array_type})",
                [values],
            )
            rows.extend((kind, value, account) for value, account in cursor.fetchall())
    rows.sort()
    return rows


def _describe_accounts(graph: LinkGraph) -> None:
    """Fraud labels and cases of the drawn accounts (two queries), and every node's link."""
    accounts = [node for node in graph.nodes if node.kind == ACCOUNT]
    names = [node.value for node in accounts]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT account_id FROM cases_transaction "
            "WHERE account_id = ANY(%s) AND label = %s",
            [names, Label.FRAUD.value],
        )
        fraud = {row[0] for row in cursor.fetchall()}
    best_case = account_cases(names)
    for node in accounts:
        node.fraud = node.value in fraud
        found = best_case.get(node.value)
        if found is not None:
            node.case_reference = found.reference
            node.case_open = found.status not in FINISHED_CASE_STATUSES
            node.url = reverse("case-detail", args=[found.reference])
    for node in graph.nodes:
        if node.kind == IP:
            node.url = ip_page_url(node.value)
        elif node.kind == DEVICE:
            node.url = reverse("device-detail", args=[node.value])


def ip_page_url(ip: str) -> str:
    """The IP page (cases' ip-detail)."""
    return reverse("ip-detail", args=[ip])


def _lay_out(graph: LinkGraph, iterations: int = 120) -> None:
    """Fruchterman-Reingold force layout, seeded, the case's account pinned at the centre."""
    count = len(graph.nodes)
    if count == 1:
        return
    rng = np.random.default_rng(20261129)
    hops = np.array([node.hop for node in graph.nodes], dtype=float)
    angle = rng.uniform(0, 2 * np.pi, count)
    position = np.stack([np.cos(angle), np.sin(angle)], axis=1) * (hops[:, None] + 0.5)
    position[0] = 0.0
    edges = np.array(graph.edges, dtype=int).reshape(-1, 2)
    ideal = 1.0 / np.sqrt(count)
    position /= np.abs(position).max()
    temperature = 0.2
    for _ in range(iterations):
        delta = position[:, None, :] - position[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        push = (delta / distance[..., None] * (ideal**2 / distance)[..., None]).sum(axis=1)
        if len(edges):
            pull = position[edges[:, 0]] - position[edges[:, 1]]
            length = np.maximum(np.linalg.norm(pull, axis=1), 1e-3)
            force = pull / length[:, None] * (length**2 / ideal)[:, None]
            np.add.at(push, edges[:, 0], -force)
            np.add.at(push, edges[:, 1], force)
        size = np.maximum(np.linalg.norm(push, axis=1), 1e-9)
        position += push / size[:, None] * np.minimum(size, temperature)[:, None]
        position[0] = 0.0
        temperature *= 0.96
    position /= max(np.abs(position).max(), 1e-9)
    for node, (x, y) in zip(graph.nodes, position, strict=True):
        node.x, node.y = float(x), float(y)
