"""The client's address, as every access event and login lockout records it."""

from __future__ import annotations

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR: a reverse proxy in front must set it to the client's address (the access log
    and django-axes' lockouts both key on it)."""
    return request.META.get("REMOTE_ADDR")
