"""Forwarded headers count only when the reverse proxy named in the settings sent them.

Behind a TLS-terminating proxy, Django learns that the browser used HTTPS from
``X-Forwarded-Proto`` (``SECURE_PROXY_SSL_HEADER``). Any client can send that header, so a
request that did not come from the proxy (one that reached the WSGI server directly, past the
proxy) would be taken for HTTPS: secure cookies, HSTS and the HTTPS redirect then rest on the
client's word. This middleware, first in the stack, drops the forwarded headers of every request
whose peer is not one of ``CUSTOS_TRUSTED_PROXIES``.
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


class TrustedProxyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
