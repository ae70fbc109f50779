"""The client's IP address, trusting X-Forwarded-For only as far as our own proxies wrote it.

Every proxy appends the address it received the request from to X-Forwarded-For, so with N
trusted proxies in front of the app the client's address is the N-th entry from the right.
Entries further left were written by the client and anyone on the way: never trusted.
FRAUDCASE_TRUSTED_PROXY_COUNT = 0 (the default) ignores the header and uses REMOTE_ADDR.

client_ip(request) has django-axes' AXES_CLIENT_IP_CALLABLE signature.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address as text (normalised), or None when the request carries none."""
    remote_addr = _address(request.META.get("REMOTE_ADDR", ""))
    hops = settings.FRAUDCASE_TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote_addr
    forwarded = [
        entry.strip()
        for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if entry.strip()
    ]
    if len(forwarded) < hops:
        # Our own proxies did not all write their entry: the request did not come the
        # configured way, so the only address we know is the peer's.
        return remote_addr
    return _address(forwarded[-hops]) or remote_addr


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None
