"""IP address text: parsed once, spelled the way PostgreSQL's inet gives it back."""

from __future__ import annotations

import ipaddress
import socket

from django.utils.ipv6 import clean_ipv6_address

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
