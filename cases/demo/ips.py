"""Public IP addresses that the bundled GeoLite2 database places in a given country.

The pool samples random addresses, looks each one up once and keeps the whole network the
database answered with, so one hit yields as many addresses as the demo needs.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

# Regional registries' big IPv6 blocks: most of them is allocated, so random hits are common.
IPV6_BLOCKS = ("2a00::/12", "2a10::/12", "2400::/12", "2600::/12", "2800::/12", "2c00::/12")
IPV4_SAMPLES = 40_000
IPV6_SAMPLES_PER_BLOCK = 2_500


@lru_cache(maxsize=1)
def geoip_reader():
    """The GeoLite2 City reader shipped with maxminddb-geolite2, opened once per process."""
    from geolite2 import geolite2

    return geolite2.reader()


def ip_country(ip: str) -> str | None:
    """ISO country code GeoLite2 gives for `ip`, or None."""
    record = geoip_reader().get(ip)
    if not record:
        return None
    return (record.get("country") or {}).get("iso_code")


@dataclass
class IpPool:
    """Networks per country, as (first address as an int, prefix length), IPv4 and IPv6."""

    networks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    networks_v6: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def draw(self, country: str, rng: np.random.Generator, *, ipv6_share: float = 0.05) -> str:
        """A global address located in `country` (any global address if none is known)."""
        use_v6 = rng.random() < ipv6_share and self.networks_v6.get(country)
        if use_v6:
            return _draw_from(self.networks_v6[country], rng, bits=128)
        candidates = self.networks.get(country)
        if not candidates:
            # A country GeoLite2 never answered for: any public address keeps the row usable.
            candidates = self.networks[min(self.networks)]
        return _draw_from(candidates, rng, bits=32)


def _draw_from(networks: list[tuple[int, int]], rng: np.random.Generator, *, bits: int) -> str:
    for _ in range(20):
        start, prefix_len = networks[int(rng.integers(len(networks)))]
        host_bits = bits - prefix_len
        offset = _random_bits(rng, host_bits)
        address = ipaddress.ip_address(start + offset)
        if bits == 32 and address.packed[-1] in (0, 255):
            continue  # network and broadcast-looking addresses read as fake
        if address.is_global:
            return str(address)
    return str(ipaddress.ip_address(networks[0][0] + 1))


def _random_bits(rng: np.random.Generator, count: int) -> int:
    value = 0
    while count > 0:
        take = min(count, 32)
        value = (value << take) | int(rng.integers(0, 1 << take))
        count -= take
    return value


@lru_cache(maxsize=4)
def build_ip_pool(seed: int = 7) -> IpPool:
    """Sample the address space with a seeded RNG and group GeoLite2's answers by country."""
    reader = geoip_reader()
    rng = np.random.default_rng([seed, 4_2])
    pool = IpPool()
    seen: set[tuple[int, int]] = set()

    for value in rng.integers(1 << 24, 224 << 24, size=IPV4_SAMPLES, dtype=np.uint64):
        text = socket.inet_ntoa(int(value).to_bytes(4, "big"))
        record, prefix_len = reader.get_with_prefix_len(text)
        country = _country_of(record)
        if country is None:
            continue
        start = int(value) & ~((1 << (32 - prefix_len)) - 1)
        if (start, prefix_len) not in seen:
            seen.add((start, prefix_len))
            pool.networks.setdefault(country, []).append((start, prefix_len))

    for block in IPV6_BLOCKS:
        network = ipaddress.IPv6Network(block)
        base, host_bits = int(network.network_address), 128 - network.prefixlen
        for _ in range(IPV6_SAMPLES_PER_BLOCK):
            value = base + _random_bits(rng, host_bits)
            record, prefix_len = reader.get_with_prefix_len(str(ipaddress.IPv6Address(value)))
            country = _country_of(record)
            if country is None or prefix_len < 16:
                continue
            start = value & ~((1 << (128 - prefix_len)) - 1)
            pool.networks_v6.setdefault(country, []).append((start, prefix_len))
    return pool


def _country_of(record) -> str | None:
    if not record:
        return None
    return (record.get("country") or {}).get("iso_code")
