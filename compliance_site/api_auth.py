"""How an integration authenticates to the API: ``Authorization: Token <token>``, looked up by the
token's SHA-256 digest, and an address that keeps presenting wrong tokens is locked out.

Only the digest is stored (``IntegrationToken``), so the lookup compares digests: a timing
difference could at most reveal a digest's bytes, which open nothing. A token is 256 random bits
(older DRF tokens, migrated, 160), so a digest cannot be turned back into a token either.

The lockout counts wrong tokens per client address in the shared cache (``CACHES["default"]``:
Redis in production, the database on a laptop), so every web process sees the same count. The
``CUSTOS_API_TOKEN_FAILURE_LIMIT``-th wrong token within ``CUSTOS_API_TOKEN_FAILURE_WINDOW_MINUTES``
locks the address out for that long: every request from it answers 429 with Retry-After before
any token is looked at, the right one included (else the lockout would still answer the guess).
A success does not reset the count: an attacker holding one token must not reset their guessing
of others with it.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from compliance_site.client_address import client_ip
from compliance_site.models import IntegrationToken

# How many characters of a token are kept in clear to tell tokens apart (IntegrationToken.prefix).
TOKEN_PREFIX_LENGTH = 8
_FAILURES_KEY = "custos:api-token-failures:{address}:{window}"
_LOCKOUT_KEY = "custos:api-token-lockout:{address}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AddressLockedOut(exceptions.Throttled):
    default_detail = "Too many wrong tokens from this address."
    extra_detail_singular = extra_detail_plural = "Retry after {wait} seconds."


def _window_seconds() -> int:
    return settings.CUSTOS_API_TOKEN_FAILURE_WINDOW_MINUTES * 60


def _address(address: str | None) -> str:
    return address or "unknown"


def lockout_remaining(address: str | None, *, now: float | None = None) -> int:
    """Seconds this address stays locked out, 0 when it is not."""
    until = cache.get(_LOCKOUT_KEY.format(address=_address(address)))
    if until is None:
        return 0
    return max(0, math.ceil(until - (time.time() if now is None else now)))


def bad_token_record(address: str | None, *, now: float | None = None) -> int:
    """Count one wrong token from this address; lock it out at the limit. Returns the count.

    Counted in fixed windows, the current one and the one before summed, so that any
    ``limit`` failures within one window's length are caught whatever the boundaries. ``incr``
    is atomic on Redis; on the database cache two requests at the same instant may count once.
    """
    now = time.time() if now is None else now
    window = _window_seconds()
    address = _address(address)
    current = int(now // window)
    key = _FAILURES_KEY.format(address=address, window=current)
    # Kept for two windows: the next window still sums this one.
    cache.add(key, 0, timeout=2 * window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=2 * window)
        count = 1
    cache.touch(key, 2 * window)  # the database cache's incr resets the expiry to the default
    count += cache.get(_FAILURES_KEY.format(address=address, window=current - 1), 0)
    if count >= settings.CUSTOS_API_TOKEN_FAILURE_LIMIT:
        cache.set(_LOCKOUT_KEY.format(address=address), now + window, timeout=window)
    return count


class IntegrationTokenAuthentication(TokenAuthentication):
    """DRF's ``Token <key>`` header, unchanged for integrations, checked against digests."""

    def authenticate(self, request):
        address = client_ip(request)
        wait = lockout_remaining(address)
        if wait:
            raise AddressLockedOut(wait=wait)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            bad_token_record(address)
            raise

    def authenticate_credentials(self, key):
        token = IntegrationToken.objects.select_related("user").filter(digest=token_digest(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return (token.user, token)
