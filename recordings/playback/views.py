"""Playback: decrypted audio with Range support, for those the one access selector allows.

The audio itself (Range, headers, muting, streaming) is ``recordings.playback.audio.audio_response``;
this view decides who may hear what, and writes the access log before a byte is sent. Sensitive
segments are muted for everyone, unless the request carries a valid unredacted-playback token
(``?unredacted=``, see ``recordings.playback.unredacted``) of a holder of ``play_unredacted``.
"""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from compliance_site.client_address import client_ip
from recordings.models import Purpose
from recordings.playback.audio import audio_response, served_range
from recordings.playback.sessions import playback_request_record
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
