"""Playback: decrypted audio with Range support, for those the one access selector allows."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from recordings.audio_storage import audio_open, recordings_storage
from recordings.http_range import UnsatisfiableRange, parse_range
from recordings.models import Purpose, Recording
from recordings.playback_log import playback_request_record
from recordings.selectors import recordings_playable_by
from recordings.streaming_aead import plaintext_size
from recordings.vault import KeyDestroyedError, recording_key


def _stream(recording: Recording, key: bytes, start: int, end: int) -> Iterator[bytes]:
    # The blob opens when the response starts and closes when it ends (or the client leaves).
    with audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as reader:
        yield from reader.iter_range(start, end)


@require_GET
@staff_member_required
def recording_audio(request: HttpRequest, pk: int) -> HttpResponse:
    """``/recordings/<id>/audio``: 404 for anything the user may not play (existence not revealed)."""
    recording = get_object_or_404(recordings_playable_by(request.user).select_related("subject"), pk=pk)
    try:
        key = recording_key(recording)
    except KeyDestroyedError as exc:
        raise Http404("This recording's audio was destroyed.") from exc
    size = plaintext_size(recordings_storage().size(recording.storage_ref))
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except UnsatisfiableRange:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = byte_range if byte_range else (0, size - 1)
    playback_request_record(
        token=request.GET.get("playback", ""),
        user=request.user,
        recording=recording,
        byte_range=(start, end) if size else None,
        purpose="" if request.user.has_perm("recordings.view_all_recordings") else Purpose.QUALITY_ASSURANCE,
        client_ip=request.META.get("REMOTE_ADDR"),
    )
    if size == 0:
        body: Iterator[bytes] = iter(())
    else:
        body = _stream(recording, key, start, end)
    response = StreamingHttpResponse(
        body, status=206 if byte_range else 200, content_type=recording.content_type
    )
    response["Content-Length"] = str(end - start + 1 if size else 0)
    response["Accept-Ranges"] = "bytes"
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    # Decrypted call audio must never sit in a shared or browser cache.
    response["Cache-Control"] = "no-store, private"
    response["Content-Disposition"] = f'inline; filename="{recording.reference}"'
    return response
