"""Where webhooks may be sent: public addresses only, checked when a subscription is saved and
again, on the very address connected to, at each delivery.

A subscription's URL is an admin's to set, but its host must not lead FraudCase's worker into
its own network: loopback, private ranges, link-local (cloud metadata at 169.254.169.254),
shared, reserved, multicast and other non-global addresses are refused. A host name is
resolved and every address it gives must be public. At delivery the name is resolved once and
the connection made to the address that passed the check (DNS rebinding: a name public when
saved, or at the check, cannot point somewhere else for the connection). HTTPS still verifies
the certificate against the host name.

FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS=true lifts the address rule (development and tests,
whose receivers listen on loopback); the scheme rule (http or https) always holds.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings

SCHEMES = ("http", "https")


class TargetRefused(ValueError):
    """The URL's host is, or resolves to, an address webhooks are not sent to."""


class Unresolvable(TargetRefused):
    """The host name does not resolve (now)."""


def refusal_of_address(address: str) -> str | None:
    """Why this IP address is no webhook target, or None when it is a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the scope is no part
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address (cloud metadata lives there)"
    if ip.is_private:
        return f"{ip} is a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return f"{ip} is not a public address"
    return None


def private_targets_allowed() -> bool:
    return settings.FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS


def resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo for a TCP connection to host:port; every address public (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Unresolvable(f"{host} does not resolve: {error}") from None
    if not private_targets_allowed():
        for *_, sockaddr in infos:
            refusal = refusal_of_address(sockaddr[0])
            if refusal:
                raise TargetRefused(f"{host} resolves to {refusal}")
    return infos


def webhook_url_refusal(url: str) -> str | None:
    """Why a subscription may not have this URL (checked when it is saved), or None."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the URL's port is not a port number"
    if parts.scheme not in SCHEMES or not parts.hostname:
        return "the URL must be http:// or https:// with a host"
    if private_targets_allowed():
        return None
    try:
        return refusal_of_address(parts.hostname)
    except ValueError:  # a name, not an address literal
        pass
    try:
        resolve(parts.hostname, port)
    except Unresolvable:
        return None  # not resolving now is no danger: each delivery checks again
    except TargetRefused as refused:
        return str(refused)
    return None


def _connect_checked(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """socket.create_connection, on addresses that passed the check (resolved here, once)."""
    host, port = address
    error = None
    for family, kind, proto, _, sockaddr in resolve(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as failed:
            error = failed
            sock.close()
    raise error or OSError(f"no address to connect to for {host}")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_checked


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_checked  # TLS then wraps it for the host name


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_CheckedHTTPSConnection, req, context=self._context)


def checked_opener(*handlers) -> urllib.request.OpenerDirector:
    """A urllib opener whose every connection goes to a checked address, direct (an HTTP
    proxy would connect in our place, unchecked)."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _CheckedHTTPHandler, _CheckedHTTPSHandler, *handlers
    )
