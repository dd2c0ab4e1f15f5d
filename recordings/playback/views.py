"""Playback: decrypted audio with Range support, for those the one access selector allows.

The audio itself (Range, headers, muting, streaming) is ``recordings.playback.audio.audio_response``;
this view decides who may hear what, and writes the access log before a byte is sent. Sensitive
segments are muted for everyone, unless the request carries a valid unredacted-playback token
(``?unredacted=``, see ``recordings.playback.unredacted``) of a holder of ``play_unredacted``.
"""

from __future__ import annotations

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from compliance_site.client_address import client_ip
from recordings.models import Purpose
from recordings.playback.audio import audio_response, served_range
from recordings.playback.sessions import (
    HeardRangesInvalid,
    heard_ranges_clean,
    playback_heard_record,
    playback_request_record,
)
from recordings.playback.unredacted import REFUSED_MESSAGE, unredacted_grant, unredacted_playback_record
from recordings.selectors import recordings_playable_by
from recordings.vault.keys import KeyDestroyedError, recording_key


@require_GET
@staff_member_required
def recording_audio(request: HttpRequest, pk: int) -> HttpResponseBase:
    """``/recordings/<id>/audio``: 404 for anything the user may not play (existence not revealed);
    403 for an unredacted-playback token that is not valid for this user and recording."""
    recording = get_object_or_404(recordings_playable_by(request.user).select_related("subject"), pk=pk)
    grant = None
    if "unredacted" in request.GET:
        grant = unredacted_grant(request.GET["unredacted"], user=request.user, recording=recording)
        if grant is None:
            return HttpResponseForbidden(REFUSED_MESSAGE, content_type="text/plain; charset=utf-8")
    try:
        key = recording_key(recording)
    except KeyDestroyedError as exc:
        raise Http404("This recording's audio was destroyed.") from exc
    response = audio_response(request, recording, key, redacted=grant is None)
    if response.status_code not in (200, 206):
        return response  # a refusal or an unsatisfiable range: no audio served
    byte_range = served_range(response)
    address = client_ip(request)
    sees_all = request.user.has_perm("recordings.view_all_recordings")
    try:
        playback_request_record(
            token=request.GET.get("playback", ""),
            user=request.user,
            recording=recording,
            byte_range=byte_range,
            purpose="" if sees_all else Purpose.QUALITY_ASSURANCE,
            client_ip=address,
        )
        if grant is not None:
            unredacted_playback_record(
                grant=grant,
                user=request.user,
                recording=recording,
                byte_range=byte_range,
                client_ip=address,
            )
    except BaseException:
        response.close()  # nothing is served that was not logged; the blob closes
        raise
    return response


# Far more than MAX_RANGES pairs of seconds take; a bigger report is refused unread.
_HEARD_MAX_CHARS = 16_000


@require_POST
@staff_member_required
def recording_heard(request: HttpRequest, pk: int) -> HttpResponse:
    """``/recordings/<id>/heard``: the player reports the time ranges it played (``heard``, JSON
    ``[[from, to], ...]`` in seconds) under its playback token; they join that playback's access
    event. 404 for a recording the user may not play, 400 for a report that cannot be one, 204
    otherwise (a report with no playback open to join changes nothing)."""
    recording = get_object_or_404(recordings_playable_by(request.user), pk=pk)
    raw = request.POST.get("heard", "")
    if len(raw) > _HEARD_MAX_CHARS:
        return HttpResponseBadRequest("The report is too long.", content_type="text/plain; charset=utf-8")
    try:
        heard = heard_ranges_clean(json.loads(raw), duration_seconds=recording.duration.total_seconds())
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and HeardRangesInvalid are ValueErrors
        message = str(exc) if isinstance(exc, HeardRangesInvalid) else "The report is not JSON."
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    playback_heard_record(
        token=request.POST.get("playback", ""), user=request.user, recording=recording, heard=heard
    )
    return HttpResponse(status=204)
