"""IP address text: parsed once, spelled the way PostgreSQL's inet gives it back, and which
special-purpose range (private, documentation, CGNAT...) an address belongs to."""

from __future__ import annotations

import ipaddress
import socket

from django.utils.ipv6 import clean_ipv6_address

from cases.ips.models import IpKind

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str | None) -> IpAddress | None:
    """The address in text, or None when it is not a plain IPv4/IPv6 address (a scoped IPv6
    address cannot be stored as inet)."""
    if text is None:
        return None
    text = str(text).strip()
    if not text or "%" in text or "/" in text:
        return None
    try:
        # Dotted-quad IPv4 first, in C: ipaddress parses text in Python (about 12 µs an
        # address, most of validating a row with a new IP). inet_pton is as strict (four
        # decimal octets up to 255, no leading zeros); anything else goes to ipaddress.
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):  # not dotted-quad IPv4 (ValueError: a NUL in the text)
        pass
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def canonical_ip(address: IpAddress) -> str:
    """What PostgreSQL's inet (and Django) give back: 2001:db8::1 for 2001:DB8::1, and
    ::ffff:10.0.0.1, not Python 3.11's ::ffff:a00:1."""
    if address.version == 6:
        return clean_ipv6_address(str(address))
    return str(address)


# --- special-purpose ranges: labelled, never placed on a map ----------------------------

DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "2001:db8::/32",
        "3fff::/20",
    )
)
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
# Special-purpose ranges Python 3.11's flags miss or count as global.
RESERVED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4", "100::/64")
)


def _in_any(address: IpAddress, networks) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def lookup_address(address: IpAddress) -> IpAddress:
    """::ffff:a.b.c.d is the IPv4 address a.b.c.d: classified and looked up as such."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def ip_kind(address: IpAddress) -> str:
    """The range an address belongs to (IpKind value); only "public" may be placed on a map."""
    address = lookup_address(address)
    if address.is_unspecified:
        return IpKind.UNSPECIFIED
    if address.is_loopback:
        return IpKind.LOOPBACK
    if address.is_link_local:
        return IpKind.LINK_LOCAL
    if address.is_multicast:
        return IpKind.MULTICAST
    if _in_any(address, DOCUMENTATION_NETWORKS):
        return IpKind.DOCUMENTATION
    if address.version == 4 and address in SHARED_NETWORK:
        return IpKind.SHARED
    if _in_any(address, PRIVATE_NETWORKS):
        return IpKind.PRIVATE
    if address.is_reserved or _in_any(address, RESERVED_NETWORKS) or not address.is_global:
        return IpKind.RESERVED
    return IpKind.PUBLIC
