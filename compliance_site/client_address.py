"""The client's address, as every access event and login lockout records it."""

from __future__ import annotations

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR (the access log, django-axes' lockouts and the API's wrong-token lockout all key
    on it): behind a proxy named in CUSTOS_TRUSTED_PROXIES, the client's address from its
    X-Forwarded-For (``compliance_site.proxy.TrustedProxyMiddleware``)."""
    return request.META.get("REMOTE_ADDR")
