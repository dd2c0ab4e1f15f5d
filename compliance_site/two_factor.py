"""Who must pass a second factor, and the middleware that holds a session back until they have.

The admin site asks ``second_factor_pending`` in ``has_permission`` (django-otp's OTPAdminSite
does the same with ``is_verified``); the middleware applies the same rule to every other view of
the site (playback, package downloads, the API description), so no path skips it.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django_otp import login as otp_login

# When the session passed its second factor (seconds since the epoch).
VERIFIED_AT_SESSION_KEY = "custos_second_factor_at"

# The views a staff session that still owes its second factor may reach.
OPEN_BEFORE_SECOND_FACTOR = frozenset(
    {"admin:login", "admin:logout", "admin:second_factor", "admin:second_factor_enrol"}
)


def second_factor_required(user) -> bool:
    """Every staff user sees personal data; with CUSTOS_REQUIRE_2FA each passes a second factor."""
    return bool(
        settings.CUSTOS_REQUIRE_2FA and user.is_authenticated and (user.is_staff or user.is_superuser)
    )


def second_factor_pending(request: HttpRequest) -> bool:
    """The session's user must pass a second factor and has not yet.

    ``is_verified`` is installed by django-otp's middleware; a user object without it (one that
    ``auth.login`` has just put on the request) has not been verified.
    """
    user = request.user
    if not second_factor_required(user):
        return False
    is_verified = getattr(user, "is_verified", None)
    if not (is_verified is not None and is_verified()):
        return True
    # django-otp trusts a session as long as the device it names exists. The session is also
    # bound to when it passed: before the user's last reset, it is not verified, even if a
    # device with that id comes back (a restored table) or was never removed.
    verified_at = getattr(request, "session", {}).get(VERIFIED_AT_SESSION_KEY)
    if not isinstance(verified_at, int | float):
        return True
    reset_at = getattr(user, "second_factor_reset_at", None)
    return reset_at is not None and verified_at <= reset_at.timestamp()


def session_mark_verified(request: HttpRequest, device) -> None:
    """Mark the session as verified by ``device`` now, under a new session key (a privilege
    change: a key seen before this moment is worth nothing after it)."""
    otp_login(request, device)
    request.session.cycle_key()
    request.session[VERIFIED_AT_SESSION_KEY] = time.time()


def second_factor_url(request: HttpRequest, next_url: str = "") -> str:
    url = reverse("admin:second_factor")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class SecondFactorMiddleware:
    """Sends a staff session that owes its second factor to the second-factor page.

    Placed after django-otp's OTPMiddleware. With CUSTOS_REQUIRE_2FA off it costs nothing: no
    query, no redirect.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if not settings.CUSTOS_REQUIRE_2FA or not second_factor_pending(request):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in OPEN_BEFORE_SECOND_FACTOR:
            return None
        next_url = request.get_full_path() if request.method == "GET" else ""
        return HttpResponseRedirect(second_factor_url(request, next_url))
