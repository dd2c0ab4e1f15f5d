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
