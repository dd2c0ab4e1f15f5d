"""X-Forwarded-Proto counts only from the reverse proxy named in CUSTOS_TRUSTED_PROXIES.

Issue 14, item 12: the production profile trusted the header whatever sat in front, so a client
that reached the WSGI server directly could claim HTTPS.
"""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from compliance_site.proxy import TrustedProxyMiddleware, trusted_proxy_networks


@pytest.fixture
def behind_a_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_NETWORKS = trusted_proxy_networks(["10.0.0.5", "fd00::/8"])


def _is_secure_through_the_stack(remote_addr: str) -> bool:
    seen = {}

    def view(request):
        seen["secure"] = request.is_secure()
        return HttpResponse()

    request = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=remote_addr)
    TrustedProxyMiddleware(view)(request)
    return seen["secure"]


@pytest.mark.parametrize("peer", ["10.0.0.5", "fd00::1"])
def test_the_named_proxy_may_say_the_browser_used_https(behind_a_proxy, peer):
    assert _is_secure_through_the_stack(peer) is True


@pytest.mark.parametrize("peer", ["203.0.113.9", "10.0.0.6", "", "not-an-address"])
def test_anyone_else_saying_so_is_not_believed(behind_a_proxy, peer):
    assert _is_secure_through_the_stack(peer) is False


def test_the_middleware_is_first_in_the_stack(settings):
    assert settings.MIDDLEWARE[0] == "compliance_site.proxy.TrustedProxyMiddleware"


def _client_address_through_the_stack(remote_addr: str, forwarded_for: str) -> str:
    seen = {}

    def view(request):
        seen["address"] = request.META["REMOTE_ADDR"]
        return HttpResponse()

    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded_for, REMOTE_ADDR=remote_addr)
    TrustedProxyMiddleware(view)(request)
    return seen["address"]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # the proxy appended the client's address; what the client claimed to its left is ignored
        ("10.0.0.5", "198.51.100.20, 203.0.113.9", "203.0.113.9"),
        # two trusted proxies in a row: the first untrusted entry from the right
        ("10.0.0.5", "198.51.100.20, 203.0.113.9, fd00::7", "203.0.113.9"),
        # nothing usable: the peer stays (a lockout on the proxy, never on a client's claim)
        ("10.0.0.5", "203.0.113.9, not-an-address", "10.0.0.5"),
        ("10.0.0.5", "", "10.0.0.5"),
        ("10.0.0.5", "fd00::7", "10.0.0.5"),
        # a client reaching the server directly cannot choose its address
        ("203.0.113.50", "198.51.100.20", "203.0.113.50"),
    ],
)
def test_behind_the_named_proxy_the_client_address_is_the_one_it_recorded(
    behind_a_proxy, peer, forwarded_for, client
):
    assert _client_address_through_the_stack(peer, forwarded_for) == client
