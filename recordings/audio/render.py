"""The muted rendition of a recording in a compressed or float format: decoded with PyAV
(FFmpeg's libraries, bundled in the ``av`` wheels), every decoded frame that overlaps a sensitive
segment replaced by silence, and re-encoded in the same container, codec and sample rate.

Muting is frame-accurate and errs on muting more: a decoded frame is one codec frame of the
source (1152 samples of MP3, 20 ms of Opus, 1024 samples of AAC, a FLAC block), and any frame
that touches a segment is silenced whole, so the silence starts at or before the segment and ends
at or after it. The sensitive samples never reach the encoder: what the encoder's own frames
smear across the edges is neighbouring, unmuted audio. Times are the player's: seconds from the
first decoded sample (an MP3's encoder delay or an MP4's priming samples are not counted).

It streams: one decoded frame at a time goes from the source file to the target file, whatever
the call's length (docs/PERFORMANCE.md: formats).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from io import RawIOBase
from typing import IO, Any

import av
import av.error
from av.audio.stream import AudioStream

__all__ = [
    "OutputFormat",
    "RenderResult",
    "RenditionUnsupported",
    "muted_spans",
    "output_format",
    "render_muted",
]

# The container PyAV's demuxer names, and the muxer that writes it again.
_CONTAINERS = {
    "wav": "wav",
    "mp3": "mp3",
    "ogg": "ogg",
    "flac": "flac",
    "matroska,webm": "webm",
    "mov,mp4,m4a,3gp,3g2,mj2": "ipod",  # the M4A flavour of MP4 (brand M4A)
}
_CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "webm": "audio/webm",
    "ipod": "audio/mp4",
}
# A decoder's name and the encoder of the same codec, where FFmpeg names them apart. Vorbis has
# no usable encoder in the wheels (FFmpeg's own is stereo-only and experimental): an OGG or WebM
# of Vorbis is rendered as Opus in the same container, which every browser that plays one plays.
_ENCODERS = {"mp3": "libmp3lame", "mp3float": "libmp3lame", "opus": "libopus", "vorbis": "libopus"}
# Lossless or uncompressed codecs: their bit rate follows from the samples, none is set.
_NO_BIT_RATE = ("flac", "pcm_", "adpcm_")


class RenditionUnsupported(ValueError):
    """The audio cannot be rendered muted (no audio stream, an unknown container, a codec the
    bundled FFmpeg cannot encode, or a file FFmpeg cannot read); the message says which."""


@dataclass(frozen=True)
class OutputFormat:
    container: str  # PyAV's muxer name
    codec: str  # PyAV's encoder name
    content_type: str


@dataclass(frozen=True)
class RenderResult:
    content_type: str
    samples: int  # decoded samples per channel
    muted_samples: int  # of which silenced
    sample_rate: int


def output_format(container: str, decoder: str) -> OutputFormat:
    """The muxer and encoder that write audio read by ``container``'s demuxer and ``decoder``."""
    muxer = _CONTAINERS.get(container)
    if muxer is None:
        raise RenditionUnsupported(f"the {container} container cannot be rendered muted")
    encoder = _ENCODERS.get(decoder, decoder)
    try:
        av.Codec(encoder, "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise RenditionUnsupported(f"no encoder for the {decoder} codec") from exc
    content_type = _CONTENT_TYPES[muxer]
    if muxer in ("ogg", "webm") and encoder == "libopus":
        content_type += "; codecs=opus"
    return OutputFormat(muxer, encoder, content_type)


# Frame times are compared as floats: each span is widened by this much on both sides, so a
# rounding error can only mute one frame more, never one less.
_EPSILON = 1e-6


def muted_spans(
    segments: Iterable[tuple[Decimal | float | int, Decimal | float | int]],
) -> list[tuple[float, float]]:
    """The segments' (start, end) seconds, widened by _EPSILON, sorted, overlaps joined."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted((float(s) - _EPSILON, float(e) + _EPSILON) for s, e in segments):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif start < end:
            merged.append((start, end))
    return merged


def _overlaps(spans: Sequence[tuple[float, float]], starts: list[float], first: float, stop: float) -> bool:
    """Whether [first, stop) touches a span."""
    index = bisect.bisect_right(starts, first) - 1
    if index >= 0 and spans[index][1] > first:
        return True
    return index + 1 < len(spans) and spans[index + 1][0] < stop


def _silence_like(frame: av.AudioFrame) -> av.AudioFrame:
    silent = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
    silent.sample_rate = frame.sample_rate
    fill = b"\x80" if frame.format.name.startswith("u8") else b"\x00"  # unsigned 8-bit: 0x80 is zero
    for plane in silent.planes:
        plane.update(fill * plane.buffer_size)
    return silent


def render_muted(
    source: IO[bytes] | RawIOBase, target: IO[bytes] | RawIOBase, segments: Iterable[tuple[Any, Any]]
) -> RenderResult:
    """Write to ``target`` (seekable, readable: muxers go back to their headers) the audio of
    ``source`` (seekable) with every frame touching one of ``segments`` (seconds of the call)
    silenced. Raises RenditionUnsupported for audio that cannot be rendered."""
    spans = muted_spans(segments)
    starts = [start for start, _ in spans]
    try:
        container = av.open(source, "r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise RenditionUnsupported(f"FFmpeg cannot read the audio ({type(exc).__name__})") from exc
    with container:
        if not container.streams.audio:
            raise RenditionUnsupported("the file has no audio stream")
        stream = container.streams.audio[0]
        decoder = stream.codec_context
        wanted = output_format(container.format.name, decoder.name)
        try:
            return _transcode(container, stream, target, wanted, spans, starts)
        except av.error.FFmpegError as exc:
            raise RenditionUnsupported(f"FFmpeg failed on the audio: {exc}") from exc


def _transcode(
    container: Any,
    stream: Any,
    target: IO[bytes] | RawIOBase,
    wanted: OutputFormat,
    spans: Sequence[tuple[float, float]],
    starts: list[float],
) -> RenderResult:
    decoder = stream.codec_context
    rate = decoder.sample_rate
    with av.open(target, "w", format=wanted.container) as output:
        encoded = output.add_stream(wanted.codec, rate=rate, layout=decoder.layout.name)
        assert isinstance(encoded, AudioStream)  # an audio codec's stream
        if decoder.bit_rate and not decoder.name.startswith(_NO_BIT_RATE):
            encoded.codec_context.bit_rate = decoder.bit_rate  # about the source's size and quality
        tick = float(stream.time_base) if stream.time_base else 0.0
        origin: float | None = None
        samples = muted = 0
        out_time_base = Fraction(1, rate)  # decoded frames keep the stream's rate
        for frame in container.decode(stream):
            # Seconds from the first decoded sample, from the frame's timestamp where it has one
            # (a gap in the source stays a gap), else from the samples decoded so far.
            at = frame.pts * tick if frame.pts is not None and tick else samples / frame.sample_rate
            if origin is None:
                origin = at
            first = at - origin
            if spans and _overlaps(spans, starts, first, first + frame.samples / frame.sample_rate):
                frame = _silence_like(frame)
                muted += frame.samples
            frame.pts, frame.time_base = samples, out_time_base
            samples += frame.samples
            for packet in encoded.encode(frame):
                output.mux(packet)
        for packet in encoded.encode(None):
            output.mux(packet)
    return RenderResult(wanted.content_type, samples, muted, rate)
