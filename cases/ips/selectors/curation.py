"""What the curation service's metadata says about a network: VPN, proxy, hosting, Tor, ASN.

Curation records carry free-form metadata (a JSON object; the contract names no fields), so
the usual spellings of each signal are read, case-insensitively:

| signal  | metadata fields                                                                 |
|---------|---------------------------------------------------------------------------------|
| VPN     | is_vpn, vpn                                                                     |
| proxy   | is_proxy, proxy, is_anonymous_proxy, anonymous_proxy                            |
| hosting | is_hosting, hosting, is_datacenter, datacenter, is_hosting_provider; or          |
|         | connection_type / usage_type / network_type of hosting, datacenter, data_center  |
| Tor     | is_tor, tor, is_tor_exit_node, tor_exit_node, tor_exit                          |
| ASN     | asn, as_number, autonomous_system_number (a number or "AS64500")                |
| AS org  | as_org, asn_org, as_name, autonomous_system_organization, organization, org, isp |

A flag is set by true, 1, "true", "yes", "y", "t" or "1"; anything else leaves it unset.
Fields that are absent say nothing: no badge is shown for what the metadata does not tell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from cases.models import CurationRecord

FLAG_FIELDS = {
    "vpn": ("is_vpn", "vpn"),
    "proxy": ("is_proxy", "proxy", "is_anonymous_proxy", "anonymous_proxy"),
    "hosting": ("is_hosting", "hosting", "is_datacenter", "datacenter", "is_hosting_provider"),
    "tor": ("is_tor", "tor", "is_tor_exit_node", "tor_exit_node", "tor_exit"),
}
HOSTING_TYPE_FIELDS = ("connection_type", "usage_type", "network_type")
HOSTING_TYPES = {"hosting", "datacenter", "data_center", "data center"}
ASN_FIELDS = ("asn", "as_number", "autonomous_system_number")
AS_ORG_FIELDS = (
    "as_org", "asn_org", "as_name", "autonomous_system_organization", "organization", "org",
    "isp",
)  # fmt: skip
TRUE_TEXTS = {"true", "yes", "y", "t", "1"}
BADGE_LABELS = {"vpn": "VPN", "proxy": "Proxy", "hosting": "Hosting", "tor": "Tor"}


@dataclass(frozen=True, slots=True)
class NetworkSignals:
    vpn: bool = False
    proxy: bool = False
    hosting: bool = False
    tor: bool = False
    asn: int | None = None
    as_org: str = ""

    @property
    def badges(self) -> list[tuple[str, str]]:
        """(key, label) of each flag set, in a fixed order: Tor, VPN, Proxy, Hosting."""
        return [
            (key, BADGE_LABELS[key])
            for key in ("tor", "vpn", "proxy", "hosting")
            if getattr(self, key)
        ]

    @property
    def asn_text(self) -> str:
        if self.asn is None:
            return ""
        return f"AS{self.asn} {self.as_org}".strip()

    def __bool__(self) -> bool:
        return bool(self.badges) or self.asn is not None


NO_SIGNALS = NetworkSignals()


def _lowered(metadata) -> dict:
    if not isinstance(metadata, dict):
        return {}
    return {str(key).strip().lower(): value for key, value in metadata.items()}


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in TRUE_TEXTS


def _asn(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip().upper().removeprefix("AS").strip()
        if text.isdecimal() and text.isascii():
            return int(text)
    return None


def signals_from_metadata(metadata) -> NetworkSignals:
    """The signals one record's metadata states (see the module docstring)."""
    fields = _lowered(metadata)
    flags = {
        signal: any(_flag(fields[name]) for name in names if name in fields)
        for signal, names in FLAG_FIELDS.items()
    }
    flags["hosting"] = flags["hosting"] or any(
        str(fields.get(name, "")).strip().lower() in HOSTING_TYPES for name in HOSTING_TYPE_FIELDS
    )
    asn = next(
        (found for name in ASN_FIELDS if (found := _asn(fields.get(name))) is not None), None
    )
    as_org = next(
        (
            str(fields[name]).strip()[:255]
            for name in AS_ORG_FIELDS
            if str(fields.get(name) or "").strip()
        ),
        "",
    )
    return NetworkSignals(**flags, asn=asn, as_org=as_org if asn is not None else "")


def combined(signals: Iterable[NetworkSignals]) -> NetworkSignals:
    """Every flag any of them sets; the ASN most of them name (ties: the lowest number)."""
    signals = list(signals)
    asns = Counter(s.asn for s in signals if s.asn is not None)
    asn = min(asns, key=lambda number: (-asns[number], number)) if asns else None
    as_org = next((s.as_org for s in signals if s.asn == asn and s.as_org), "")
    return NetworkSignals(
        vpn=any(s.vpn for s in signals),
        proxy=any(s.proxy for s in signals),
        hosting=any(s.hosting for s in signals),
        tor=any(s.tor for s in signals),
        asn=asn,
        as_org=as_org,
    )


def transaction_signals(transaction_ids: Iterable[str]) -> dict[str, NetworkSignals]:
    """Per transaction id, what its curation records say (one query); ids no record names
    are left out."""
    ids = sorted({tx_id for tx_id in transaction_ids if tx_id})
    if not ids:
        return {}
    by_transaction: dict[str, list[NetworkSignals]] = {}
    for tx_id, metadata in CurationRecord.objects.filter(transaction_id__in=ids).values_list(
        "transaction_id", "metadata"
    ):
        by_transaction.setdefault(tx_id, []).append(signals_from_metadata(metadata))
    return {tx_id: combined(found) for tx_id, found in by_transaction.items()}


def attach_signals(transactions: Iterable) -> NetworkSignals:
    """Set .network on each transaction (its signals, or none) and return their union."""
    transactions = list(transactions)
    found = transaction_signals(tx.transaction_id for tx in transactions)
    for tx in transactions:
        tx.network = found.get(tx.transaction_id, NO_SIGNALS)
    return combined(found.values())


def ip_signals(ip: str) -> NetworkSignals:
    """What every curation record about this IP says, combined (one query)."""
    return combined(
        signals_from_metadata(metadata)
        for metadata in CurationRecord.objects.filter(source_ip=ip).values_list(
            "metadata", flat=True
        )
    )
