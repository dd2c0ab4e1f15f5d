"""Forwarded headers count only when the reverse proxy named in the settings sent them.

Behind a TLS-terminating proxy, Django learns that the browser used HTTPS from
``X-Forwarded-Proto`` (``SECURE_PROXY_SSL_HEADER``). Any client can send that header, so a
request that did not come from the proxy (one that reached the WSGI server directly, past the
proxy) would be taken for HTTPS: secure cookies, HSTS and the HTTPS redirect then rest on the
client's word. This middleware, first in the stack, drops the forwarded headers of every request
whose peer is not one of ``CUSTOS_TRUSTED_PROXIES``.

Behind the proxy, the WSGI server's peer (``REMOTE_ADDR``) is the proxy itself, for every client:
the access log, django-axes' lockouts and the API's wrong-token lockout
(``compliance_site.client_address.client_ip``) would all key on the proxy, so one guesser would
lock every client out. For a request from a trusted proxy, ``REMOTE_ADDR`` becomes the client's
address as the proxies recorded it: the rightmost ``X-Forwarded-For`` entry that is not itself a
trusted proxy (entries to its left are whatever the client sent, so never believed).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxy_networks(values: list[str]) -> tuple[Network, ...]:
    """Addresses or networks (``10.0.0.5``, ``10.0.1.0/24``, ``::1``) as networks; a bad one is an
    error at start, naming it."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"CUSTOS_TRUSTED_PROXIES: {value!r} is not an IP address or network ({exc})."
            ) from exc
    return tuple(networks)


def is_trusted_proxy(address: str | None) -> bool:
    if not address:
        return False
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(peer in network for network in settings.TRUSTED_PROXY_NETWORKS)


def forwarded_client(forwarded_for: str) -> str | None:
    """The client's address in a trusted proxy's ``X-Forwarded-For``: the rightmost entry that is
    not a trusted proxy; None when there is none or it is not an address (the peer stays)."""
    for entry in reversed(forwarded_for.split(",")):
        entry = entry.strip()
        try:
            address = str(ipaddress.ip_address(entry))
        except ValueError:
            return None
        if not is_trusted_proxy(address):
            return address
    return None


class TrustedProxyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        elif client := forwarded_client(request.META.get("HTTP_X_FORWARDED_FOR", "")):
            request.META["REMOTE_ADDR"] = client
        return self.get_response(request)
