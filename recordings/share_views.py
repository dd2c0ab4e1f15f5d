"""``/shares/<token>/audio``: a recipient fetches the one recording shared with them, muted."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from compliance_site.client_address import client_ip
from recordings.access_log import access_event_record
from recordings.models import AccessAction, Share
from recordings.sharing import share_for_token, token_hash
from recordings.vault import KeyDestroyedError, recording_key


@require_GET
@never_cache
def shared_audio(request: HttpRequest, token: str) -> HttpResponse:
    """The shared recording's audio with its sensitive segments muted; 410 once the share has
    expired, been revoked or lost its ground, 404 for a token that opens nothing."""
    share = share_for_token(token)
    if share is None:
        if Share.objects.filter(token_hash=token_hash(token)).exists():
            return HttpResponse(
                "This link has expired or was revoked.", status=410, content_type="text/plain"
            )
        raise Http404("No such share.")
    recording = share.recording
    try:
        key = recording_key(recording)
    except KeyDestroyedError:
        return HttpResponse("This recording no longer exists.", status=410, content_type="text/plain")
    from recordings.playback import audio_response  # the same Range and muting code as staff playback

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
        share.fetch_count += 1
        share.save(update_fields=["fetch_count"])
    return response
