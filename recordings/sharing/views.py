"""A recipient's share link, with its token kept out of every URL a server logs.

The link the DPO sends is ``/shares/open#<token>``: a browser never sends a URL's fragment, so
no request line, proxy log or Referer carries the token. The page at ``/shares/open`` moves it
from the fragment into a POST (``custos/share_open.js``; without script, the recipient pastes
the link into the same form), and the answer sets a short-lived pass, a signed cookie scoped to
that share's path, then redirects to the token-free ``/shares/s/<id>/audio``, where the player's
Range requests go. Links of the old form, ``/shares/<token>/audio``, still open the same way;
that one request line carries the token, which every log Custos configures masks
(``compliance_site.log_redaction``, ``compliance_site.gunicorn_logging``).

Every fetch re-checks the share (``recordings.sharing.services.share_for_token_hash``), so a revocation,
an expiry, a withdrawal, a restriction or an erasure stops a pass at once, as it stops the link.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.client_address import client_ip
from recordings.models import Share
from recordings.sharing.services import share_for_token_hash, token_hash
from recordings.vault.keys import KeyDestroyedError, recording_key

# Long enough to listen to a call and seek in it; after that the link opens a new pass.
SHARE_PASS_SECONDS = 60 * 60
_SIGNING_SALT = "recordings.sharing.views.pass"
GONE_MESSAGE = "This link has expired or was revoked."
REOPEN_MESSAGE = "Open the link you received again: this page needs it (a link opens it for an hour)."
# A token from ``secrets.token_urlsafe(32)``: 43 characters; anything much longer is not one.
_TOKEN_MAX_LENGTH = 128


def share_link(request: HttpRequest, token: str) -> str:
    """The link to send to the recipient: the token travels in the fragment only."""
    return f"{request.build_absolute_uri(reverse('share-open'))}#{token}"


def pass_cookie_name() -> str:
    # "__Secure-": browsers accept it only over HTTPS with the Secure flag, as in production.
    return "__Secure-custos-share" if settings.SESSION_COOKIE_SECURE else "custos-share"


def _gone_or_not_found(hashed: str) -> HttpResponse:
    if Share.objects.filter(token_hash=hashed).exists():
        return HttpResponse(GONE_MESSAGE, status=410, content_type="text/plain; charset=utf-8")
    raise Http404("No such share.")


def _open(token: str, *, status: int) -> HttpResponse:
    """Exchange a link's token for a pass on the token-free audio URL (a redirect)."""
    hashed = token_hash(token)
    share = share_for_token_hash(hashed)
    if share is None:
        return _gone_or_not_found(hashed)
    audio = reverse("share-audio", args=[share.pk])
    response = HttpResponseRedirect(audio, status=status)
    response.set_cookie(
        pass_cookie_name(),
        signing.dumps({"share": share.pk, "hash": hashed}, salt=_SIGNING_SALT),
        max_age=SHARE_PASS_SECONDS,
        path=audio.rsplit("/", 1)[0] + "/",  # this share's URLs only
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        # Lax: sent when the recipient follows a link from their mail, never on another site's
        # embedded request for the audio.
        samesite="Lax",
    )
    return response


def _token_from(value: str) -> str:
    """The token of what the form got: the token itself, or the whole link pasted."""
    return value.strip().rpartition("#")[2].strip()[:_TOKEN_MAX_LENGTH]


@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
def share_open(request: HttpRequest) -> HttpResponse:
    """``/shares/open``: the page the link lands on (GET), and the exchange of its token (POST)."""
    if request.method == "POST":
        token = _token_from(request.POST.get("token", ""))
        if not token:
            return render(request, "recordings/share_open.html", {"missing": True}, status=400)
        return _open(token, status=303)
    return render(request, "recordings/share_open.html")


@require_GET
@never_cache
def share_open_legacy(request: HttpRequest, token: str) -> HttpResponse:
    """``/shares/<token>/audio``, a link of the old form: exchanged like the new one."""
    return _open(token[:_TOKEN_MAX_LENGTH], status=302)


def _pass_hash(request: HttpRequest, share_id: int) -> str | None:
    """The token hash the request's pass holds for this share, or None (no pass, expired,
    forged, or another share's)."""
    try:
        held = signing.loads(
            request.COOKIES.get(pass_cookie_name(), ""), salt=_SIGNING_SALT, max_age=SHARE_PASS_SECONDS
        )
    except signing.BadSignature:
        return None
    if not isinstance(held, dict) or held.get("share") != share_id or not isinstance(held.get("hash"), str):
        return None
    return held["hash"]


@require_GET
@never_cache
def shared_audio(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The shared recording's audio with its sensitive segments muted; 403 without a pass for
    this share, 410 once the share has expired, been revoked or lost its ground."""
    hashed = _pass_hash(request, pk)
    if hashed is None:
        return HttpResponse(REOPEN_MESSAGE, status=403, content_type="text/plain; charset=utf-8")
    share = share_for_token_hash(hashed)
    if share is None:
        return _gone_or_not_found(hashed)
    recording = share.recording
    try:
        key = recording_key(recording)
    except KeyDestroyedError:
        return HttpResponse("This recording no longer exists.", status=410, content_type="text/plain")
    from recordings.playback.audio import audio_response  # the same Range and muting code as staff playback

    response = audio_response(request, recording, key, redacted=True)
    if response.status_code in (200, 206):
        access_event_record(
            action=AccessAction.SHARE_FETCH,
            object_type="recording",
            object_id=recording.pk,
            object_reference=recording.reference,
            actor_label=f"recipient:{share.recipient_id}",
            detail={
                "share": share.pk,
                "recipient": share.recipient_id,
                "range": response.get("Content-Range", "") or "all",
            },
            client_ip=client_ip(request),
        )
        # In place: a player's Range requests come in parallel (a read-then-save would lose
        # counts), and each is an access event already, not a version of the share's history.
        Share.objects.filter(pk=share.pk).update(fetch_count=F("fetch_count") + 1)
    return response
