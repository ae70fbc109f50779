"""Curation records: what the edge saw of each source IP (user agent, network, proxy flags).

Attributes of an IP (ASN, ISP, connection type, VPN) are derived from a hash of the IP and
its network, so every record about the same address or network tells the same story.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from datetime import timedelta

import numpy as np

COMMON_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1",
    "NorthBank/7.4.1 (iPhone; iOS 18.1; Scale/3.00)",
    "NorthBank/7.4.0 (Linux; Android 14; SM-A546B)",
)
# Scripts, headless browsers and years-old builds: what fraud tooling tends to send.
ODD_USER_AGENTS = (
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36",
    "okhttp/4.9.2",
    "curl/8.4.0",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.88 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 7.0; SM-G930F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/64.0.3282.137 Mobile Safari/537.36",
    "Dalvik/2.1.0 (Linux; U; Android 9; Redmi Note 5 MIUI/V10.3.2.0)",
)
ISP_WORDS = (
    "Northbeam",
    "Skyline",
    "Vistanet",
    "Bluewave",
    "Fibrelink",
    "Metronet",
    "Primus",
    "Orbitel",
    "Helix",
    "Kestrel",
    "Lumina",
    "Stratus",
    "Tidewater",
    "Arcadia",
)
ISP_SUFFIXES = {
    "residential": ("Broadband", "Cable", "Fibre", "Telecom"),
    "mobile": ("Mobile", "Wireless", "Cellular"),
    "business": ("Business Networks", "Enterprise Connect"),
    "hosting": ("Hosting", "Cloud", "Datacenter", "VPS"),
}
# Connection types by pattern: card testers rent servers, mules use phones and home lines.
CONNECTION_MIX = {
    "normal": {"residential": 0.6, "mobile": 0.3, "business": 0.08, "hosting": 0.02},
    "account_takeover": {"residential": 0.35, "mobile": 0.2, "business": 0.0, "hosting": 0.45},
    "card_testing": {"residential": 0.3, "mobile": 0.0, "business": 0.0, "hosting": 0.7},
    "mule_ring": {"residential": 0.6, "mobile": 0.4, "business": 0.0, "hosting": 0.0},
}
VPN_SHARE = {"hosting": 0.6, "fraud": 0.25, "normal": 0.03}


def generate_curation_records(rows: Iterable[dict], *, seed: int) -> list[dict]:
    """One record per distinct (source_ip, transaction), in the order of `rows`."""
    rng = np.random.default_rng([seed, 3])
    seen: set[tuple[str, str]] = set()
    records = []
    for row in rows:
        ip, transaction_id = row.get("source_ip"), row.get("transaction_id")
        if not ip or (ip, transaction_id) in seen:
            continue
        seen.add((ip, transaction_id))
        pattern = row.get("_pattern") or "normal"
        delay = timedelta(milliseconds=float(rng.uniform(5, 3000)))
        records.append(
            {
                "source_ip": ip,
                "transaction_id": transaction_id,
                "account_id": row.get("account_id"),
                "observed_at": (row["occurred_at"] + delay).isoformat(timespec="milliseconds"),
                "user_agent": _user_agent(row, pattern, seed),
                "metadata": _network_metadata(ip, pattern, seed),
            }
        )
    return records


def _user_agent(row: dict, pattern: str, seed: int) -> str:
    if pattern == "normal":
        # A device keeps its browser; rows without a device fall back to the account's.
        key = row.get("device_id") or row.get("account_id") or ""
        return COMMON_USER_AGENTS[_hashed(seed, "ua", key) % len(COMMON_USER_AGENTS)]
    # Fraud tooling is reused: the same device or IP keeps sending the same odd agent.
    key = row.get("device_id") or row.get("source_ip") or ""
    return ODD_USER_AGENTS[_hashed(seed, "odd-ua", key) % len(ODD_USER_AGENTS)]


def _network_metadata(ip: str, pattern: str, seed: int) -> dict:
    network = _network_of(ip)
    mix = CONNECTION_MIX.get(pattern, CONNECTION_MIX["normal"])
    draw = _hashed(seed, "connection", ip) / 2**64
    connection_type, cumulative = "residential", 0.0
    for name, share in mix.items():
        cumulative += share
        if draw < cumulative:
            connection_type = name
            break
    vpn_share = VPN_SHARE[
        "hosting" if connection_type == "hosting" else "normal" if pattern == "normal" else "fraud"
    ]
    is_vpn = _hashed(seed, "vpn", ip) / 2**64 < vpn_share
    word = ISP_WORDS[_hashed(seed, "isp", network) % len(ISP_WORDS)]
    suffixes = ISP_SUFFIXES[connection_type]
    return {
        "asn": 1000 + _hashed(seed, "asn", network, connection_type) % 60000,
        "isp": f"{word} {suffixes[_hashed(seed, 'suffix', network) % len(suffixes)]}",
        "connection_type": connection_type,
        "is_vpn": is_vpn,
        "is_proxy": is_vpn
        or (_hashed(seed, "proxy", ip) % 100 < (12 if pattern != "normal" else 1)),
        "is_tor": pattern != "normal" and _hashed(seed, "tor", ip) % 100 < 3,
    }


def _network_of(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 16 if address.version == 4 else 32
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _hashed(seed: int, *parts: str) -> int:
    text = "|".join((str(seed), *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")
