"""The audio response of a recording: Range, headers, server-side muting and streaming.

``audio_response`` is what every endpoint that serves a recording's audio answers with (the
back office's player, a recipient's share link); who may ask, and the access log, are the
calling view's business. Redacted audio has the recording's sensitive segments muted on the
server; where they cannot be muted (anything but PCM WAV), it is refused, never served whole.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.http.response import HttpResponseBase

from recordings.models import Recording
from recordings.playback.http_range import UnsatisfiableRange, parse_range
from recordings.playback.muting import MutingUnsupported, WavLayout, mute, muted_byte_ranges, wav_layout
from recordings.vault.storage import audio_open, recordings_storage
from recordings.vault.streaming_aead import plaintext_size
from recordings.vault.streaming_decrypt import DecryptingReader

UNMUTABLE_MESSAGE = (
    "This recording has sensitive segments and can only be muted in WAV; it cannot be played "
    "without the unredacted-playback permission."
)

# Content types ingest gives WAV (audio_format); anything else with segments is refused at once.
_WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
# The header is read once from the first plaintext segment; a WAV whose data starts later than
# this is read piecewise (rare: large metadata chunks before the samples).
_HEAD_BYTES = 65480
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/\d+$")


def _segments(recording: Recording) -> list[tuple]:
    return list(recording.sensitive_segments.values_list("start_seconds", "end_seconds"))


def _is_wav(recording: Recording) -> bool:
    return recording.content_type.split(";")[0].strip().lower() in _WAV_TYPES


class _AudioBody:
    """The body of an audio response: the blob opens on first use (or earlier, to read the WAV
    header) and closes at the end of the stream, or when the response is closed unread."""

    def __init__(self, recording: Recording, key: bytes) -> None:
        self._recording, self._key = recording, key
        self._stack = contextlib.ExitStack()
        self._reader: DecryptingReader | None = None
        self._head = b""
        self._iterator: Iterator[bytes] | None = None

    def reader(self) -> DecryptingReader:
        if self._reader is None:
            self._reader = self._stack.enter_context(
                audio_open(name=self._recording.storage_ref, key=self._key, recording_id=self._recording.pk)
            )
        return self._reader

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` plaintext bytes at ``offset`` (for the header parser)."""
        reader = self.reader()
        size = reader.plaintext_size
        if not self._head and size:
            self._head = b"".join(reader.iter_range(0, min(_HEAD_BYTES, size) - 1))
        if offset + length <= len(self._head):
            return self._head[offset : offset + length]
        if offset >= size or length <= 0:
            return b""
        return b"".join(reader.iter_range(offset, min(offset + length, size) - 1))

    def layout(self, size: int) -> WavLayout:
        return wav_layout(self.read_at, size)

    def stream(self, start: int, end: int, muted: Sequence[tuple[int, int]], silence: int) -> None:
        self._range, self._muted, self._silence = (start, end), muted, silence

    def _chunks(self) -> Iterator[bytes]:
        start, end = self._range
        chunks = self.reader().iter_range(start, end)
        if self._muted:
            chunks = mute(chunks, start, self._muted, self._silence)
        return chunks

    def __iter__(self) -> _AudioBody:
        return self

    def __next__(self) -> bytes:
        try:
            if self._iterator is None:
                self._iterator = self._chunks()
            return next(self._iterator)
        except BaseException:  # the end of the stream, or a failure: the blob closes either way
            self.close()
            raise

    def close(self) -> None:
        self._stack.close()


def unmutable_reason(recording: Recording, key: bytes) -> str | None:
    """Why this recording cannot be served redacted (UNMUTABLE_MESSAGE), or None when it can:
    it has no sensitive segments, or it is PCM WAV. Reads the header of a WAV with segments."""
    if not recording.sensitive_segments.exists():
        return None
    if not _is_wav(recording):
        return UNMUTABLE_MESSAGE
    body = _AudioBody(recording, key)
    try:
        body.layout(body.reader().plaintext_size)
    except MutingUnsupported:
        return UNMUTABLE_MESSAGE
    finally:
        body.close()
    return None


def audio_response(
    request: HttpRequest, recording: Recording, key: bytes, *, redacted: bool
) -> HttpResponseBase:
    """The recording's decrypted audio, whole (200) or the byte range asked for (206), 416 for a
    range past the end. ``redacted``: its sensitive segments are muted, and a recording whose
    segments cannot be muted (not PCM WAV) is refused with 403 and UNMUTABLE_MESSAGE.

    The caller has decided that the user may hear it and holds its key; it logs the access
    (``served_range`` says which bytes a response serves) before returning the response, and
    calls ``response.close()`` if it drops the response instead (the blob may be open already:
    the header of a WAV to mute is read here). The body is decrypted (and muted) chunk by chunk
    as the response is iterated, never held whole.
    """
    size = plaintext_size(recordings_storage().size(recording.storage_ref))
    segments = _segments(recording) if redacted else []
    body = _AudioBody(recording, key)
    muted: list[tuple[int, int]] = []
    silence = 0
    if segments:
        if not _is_wav(recording):
            return _refused()
        try:
            layout = body.layout(size)
        except MutingUnsupported:
            body.close()
            return _refused()
        except BaseException:
            body.close()
            raise
        muted, silence = muted_byte_ranges(layout, segments), layout.silence
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except UnsatisfiableRange as exc:
        body.close()
        refusal = HttpResponse(str(exc), status=416, content_type="text/plain; charset=utf-8")
        refusal["Content-Range"] = f"bytes */{size}"
        return refusal
    start, end = byte_range if byte_range else (0, size - 1)
    if size == 0:
        body.close()
        content: Iterator[bytes] | _AudioBody = iter(())
    else:
        body.stream(start, end, muted, silence)
        content = body
    response = StreamingHttpResponse(
        content, status=206 if byte_range else 200, content_type=recording.content_type
    )
    response["Content-Length"] = str(end - start + 1 if size else 0)
    response["Accept-Ranges"] = "bytes"
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    # Decrypted call audio must never sit in a shared or browser cache (muted or not).
    response["Cache-Control"] = "no-store, private"
    response["Content-Disposition"] = f'inline; filename="{recording.reference}"'
    return response


def served_range(response: HttpResponseBase) -> tuple[int, int] | None:
    """The (first, last) byte an ``audio_response`` serves; None when it serves no audio (an
    empty recording, a refusal, an unsatisfiable range)."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.get("Content-Range", ""))
        return (int(match.group(1)), int(match.group(2))) if match else None
    if response.status_code == 200:
        length = int(response.get("Content-Length") or 0)
        return (0, length - 1) if length else None
    return None


def _refused() -> HttpResponse:
    return HttpResponseForbidden(UNMUTABLE_MESSAGE, content_type="text/plain; charset=utf-8")
