"""The audio response of a recording: Range, headers, server-side muting and streaming.

``audio_response`` is what every endpoint that serves a recording's audio answers with (the
back office's player, a recipient's share link); who may ask, and the access log, are the
calling view's business. Redacted audio has the recording's sensitive segments muted on the
server: PCM and G.711 WAV in place, byte by byte as they stream; every other format from its
muted rendition (``recordings.renditions``), served with Range on its own length. Until that
rendition is ready, redacted audio is refused with 503 (RENDITION_PREPARING), never served whole.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from recordings.models import MutedRendition, Recording
from recordings.playback.http_range import UnsatisfiableRange, parse_range
from recordings.playback.muting import MutingUnsupported, WavLayout, mute, muted_byte_ranges, wav_layout
from recordings.selectors import recording_segment_bounds, renditions_current
from recordings.vault.keys import recording_aad, rendition_aad
from recordings.vault.storage import ciphertext_open, recordings_storage
from recordings.vault.streaming_aead import plaintext_size
from recordings.vault.streaming_decrypt import DecryptingReader

RENDITION_PREPARING = (
    "The muted version of this recording is being prepared; try again in a minute. Its sensitive "
    "segments are never played unmuted."
)
RENDITION_FAILED = (
    "The muted version of this recording could not be prepared; it cannot be played without the "
    "unredacted-playback permission."
)
# What a player is told to wait before it asks again for a rendition being prepared.
RETRY_AFTER_SECONDS = 15

# Content types ingest gives WAV (audio_format): muted in place if PCM or G.711.
WAV_CONTENT_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
# The header is read once from the first plaintext segment; a WAV whose data starts later than
# this is read piecewise (rare: large metadata chunks before the samples).
_HEAD_BYTES = 65480
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/\d+$")


def is_wav(recording: Recording) -> bool:
    return recording.content_type.split(";")[0].strip().lower() in WAV_CONTENT_TYPES


@dataclass(frozen=True)
class MutingPlan:
    """How a recording's redacted audio is served: ``layout`` set, muted in place (the file byte
    ranges ``muted``); ``rendition`` set, from that ready rendition; ``refusal`` set, not at all
    (its message). All None: no segments, the audio as stored. ``requested``: a live rendition
    row exists for the segments as they are now (False: nothing is preparing one yet)."""

    layout: WavLayout | None = None
    muted: tuple[tuple[int, int], ...] = ()
    rendition: MutedRendition | None = None
    refusal: str | None = None
    requested: bool = True


class _AudioBody:
    """The body of an audio response: the blob opens on first use (or earlier, to read the WAV
    header) and closes at the end of the stream, or when the response is closed unread."""

    def __init__(self, name: str, key: bytes, associated_data: bytes) -> None:
        self._name, self._key, self._associated_data = name, key, associated_data
        self._stack = contextlib.ExitStack()
        self._reader: DecryptingReader | None = None
        self._head = b""
        self._iterator: Iterator[bytes] | None = None

    def reader(self) -> DecryptingReader:
        if self._reader is None:
            self._reader = self._stack.enter_context(
                ciphertext_open(name=self._name, key=self._key, associated_data=self._associated_data)
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


def _original(recording: Recording, key: bytes) -> _AudioBody:
    return _AudioBody(recording.storage_ref, key, recording_aad(recording.pk))


def muting_plan(recording: Recording, key: bytes, *, body: _AudioBody | None = None) -> MutingPlan:
    """How the recording's redacted audio is served now (``MutingPlan``). Reads the header of a
    WAV with segments (through ``body`` when given, which stays open for the response)."""
    segments = recording_segment_bounds(recording)
    if not segments:
        return MutingPlan()
    if is_wav(recording):
        owned = body is None
        reader = _original(recording, key) if body is None else body
        try:
            layout = reader.layout(reader.reader().plaintext_size)
            return MutingPlan(layout=layout, muted=tuple(muted_byte_ranges(layout, segments)))
        except MutingUnsupported:
            pass  # float or compressed WAV: a rendition, like the other formats
        finally:
            if owned:
                reader.close()
    rendition = renditions_current(recording, segments).first()
    if rendition is None:
        return MutingPlan(refusal=RENDITION_PREPARING, requested=False)
    if rendition.status == MutedRendition.Status.READY:
        return MutingPlan(rendition=rendition)
    if rendition.status == MutedRendition.Status.FAILED:
        return MutingPlan(refusal=RENDITION_FAILED)
    return MutingPlan(refusal=RENDITION_PREPARING)


def stored_wav_layout(reader: DecryptingReader) -> WavLayout:
    """Where the samples of the WAV that ``reader`` decrypts are (its header read from the first
    plaintext segment); MutingUnsupported when it is not PCM, float or G.711 WAV."""
    size = reader.plaintext_size
    head = b"".join(reader.iter_range(0, min(_HEAD_BYTES, size) - 1)) if size else b""

    def read_at(offset: int, length: int) -> bytes:
        if offset + length <= len(head):
            return head[offset : offset + length]
        if offset >= size or length <= 0:
            return b""
        return b"".join(reader.iter_range(offset, min(offset + length, size) - 1))

    return wav_layout(read_at, size)


def mutable_in_place(recording: Recording, key: bytes) -> bool:
    """Whether the recording is PCM or G.711 WAV, whose segments are muted as it streams (reads
    the header of a WAV); anything else needs a muted rendition."""
    if not is_wav(recording):
        return False
    body = _original(recording, key)
    try:
        body.layout(body.reader().plaintext_size)
    except MutingUnsupported:
        return False
    finally:
        body.close()
    return True


def muted_unavailable_reason(recording: Recording, key: bytes) -> str | None:
    """Why this recording's redacted audio cannot be served now (its muted rendition is being
    prepared, or failed), or None when it can."""
    return muting_plan(recording, key).refusal


def audio_response(
    request: HttpRequest, recording: Recording, key: bytes, *, redacted: bool
) -> HttpResponseBase:
    """The recording's decrypted audio, whole (200) or the byte range asked for (206), 416 for a
    range past the end. ``redacted``: its sensitive segments are muted, in place (PCM and G.711
    WAV) or by serving its ready muted rendition (any other format, with the rendition's length
    and content type); 503 with RENDITION_PREPARING (or RENDITION_FAILED) when there is none.

    The caller has decided that the user may hear it and holds its key; it logs the access
    (``served_range`` says which bytes a response serves) before returning the response, and
    calls ``response.close()`` if it drops the response instead (the blob may be open already:
    the header of a WAV to mute is read here). The body is decrypted (and muted) chunk by chunk
    as the response is iterated, never held whole.
    """
    body = _original(recording, key)
    name, content_type = recording.storage_ref, recording.content_type
    muted: Sequence[tuple[int, int]] = ()
    silence = 0
    if redacted:
        try:
            plan = muting_plan(recording, key, body=body)
        except BaseException:
            body.close()
            raise
        if plan.refusal:
            body.close()
            return _unavailable(plan.refusal)
        if plan.layout is not None:
            muted, silence = plan.muted, plan.layout.silence
        elif plan.rendition is not None:
            body.close()
            rendition = plan.rendition
            name, content_type = rendition.storage_ref, rendition.content_type
            body = _AudioBody(name, key, rendition_aad(recording.pk, rendition.fingerprint))
    size = plaintext_size(recordings_storage().size(name))
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
    response = StreamingHttpResponse(content, status=206 if byte_range else 200, content_type=content_type)
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


def _unavailable(message: str) -> HttpResponse:
    response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    if message == RENDITION_PREPARING:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store, private"
    return response
