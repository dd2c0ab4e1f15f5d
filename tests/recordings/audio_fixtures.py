"""Call audio in every common format, generated in code with PyAV, and what the tests measure on
it: a 440 Hz tone whose loudness changes every second in a known pattern (so a shifted or
swapped second shows), decoded back to 16-bit mono, RMS and correlation per 100 ms window."""

from __future__ import annotations

import array
import io
import math
import struct
from dataclasses import dataclass

import av

# The loudness of each second, of full scale: no two neighbours alike.
LOUDNESS = (0.25, 0.5, 0.35, 0.6, 0.3, 0.55, 0.4, 0.45, 0.5, 0.3)
WINDOW_SECONDS = 0.1


@dataclass(frozen=True)
class Format:
    container: str  # PyAV's muxer
    codec: str  # PyAV's encoder
    rate: int
    content_type: str  # what ingest gives it
    extension: str
    lossless: bool = False


FORMATS = {
    "mp3": Format("mp3", "libmp3lame", 8000, "audio/mpeg", "mp3"),
    "ogg-opus": Format("ogg", "libopus", 16000, "audio/ogg; codecs=opus", "opus"),
    "webm-opus": Format("webm", "libopus", 16000, "audio/webm", "webm"),
    "flac": Format("flac", "flac", 8000, "audio/flac", "flac", lossless=True),
    "m4a-aac": Format("ipod", "aac", 16000, "audio/mp4", "m4a"),
}
# Muted in place as it streams, like PCM: no rendition.
FLOAT_WAV = Format("wav", "pcm_f32le", 8000, "audio/wav", "wav", lossless=True)


def tone(rate: int, seconds: float) -> array.array:
    """The test signal as 16-bit samples."""
    count = int(seconds * rate)
    return array.array(
        "h",
        (
            int(32767 * LOUDNESS[(i // rate) % len(LOUDNESS)] * math.sin(2 * math.pi * 440 * i / rate))
            for i in range(count)
        ),
    )


def encode(fmt: Format, seconds: float = 10.0) -> bytes:
    """The tone encoded in ``fmt`` by PyAV, in memory."""
    samples = tone(fmt.rate, seconds)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt.container) as output:
        stream = output.add_stream(fmt.codec, rate=fmt.rate, layout="mono")
        for first in range(0, len(samples), 1000):
            chunk = samples[first : first + 1000]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
            frame.planes[0].update(chunk.tobytes())
            frame.sample_rate, frame.pts = fmt.rate, first
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def decode(data: bytes) -> tuple[array.array, int]:
    """Every sample of the audio, as 16-bit mono, and the sample rate."""
    samples = array.array("h")
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
    return samples, rate


def windows(samples: array.array, rate: int) -> list[array.array]:
    size = int(rate * WINDOW_SECONDS)
    return [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]


def rms(window) -> float:
    return math.sqrt(sum(x * x for x in window) / max(len(window), 1))


def correlation(a, b) -> float:
    """Normalised correlation of two windows (1: the same shape)."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    return dot / norm if norm else 1.0


SILENT_RMS = 50  # of 32767: below -56 dBFS
# Windows this far from a muted span are compared with the original (the frames around it may be
# silenced whole: muting errs on muting more).
MARGIN = 0.2


def assert_silent_in_span_and_unchanged_elsewhere(
    original_audio: bytes, audio: bytes, span: tuple, *, lossless: bool, label: str
) -> None:
    """``audio`` against ``original_audio``: the same rate and length (within 10 ms), silent in
    every 100 ms window inside ``span`` (seconds), and away from it byte-identical (lossless)
    or of the same loudness and shape (lossy)."""
    original, rate = decode(original_audio)
    after, after_rate = decode(audio)
    assert after_rate == rate
    assert abs(len(after) - len(original)) <= rate // 100  # the same length, within 10 ms
    start, end = (float(bound) for bound in span)
    for index, (before, now) in enumerate(zip(windows(original, rate), windows(after, rate), strict=False)):
        first, stop = index / 10, (index + 1) / 10
        if first >= start and stop <= end:
            assert rms(now) < SILENT_RMS, f"{label}: {first:.1f}-{stop:.1f} s is not silent ({rms(now):.0f})"
        elif stop <= start - MARGIN or first >= end + MARGIN:
            if lossless:
                assert now == before, f"{label}: {first:.1f}-{stop:.1f} s changed"
            else:
                assert 0.85 < rms(now) / rms(before) < 1.15, f"{label}: loudness changed at {first:.1f} s"
                assert correlation(before, now) > 0.95, f"{label}: shape changed at {first:.1f} s"


def g711_wav(law: str, *, seconds: float, rate: int = 8000) -> bytes:
    """A G.711 WAV (format tag 7 µ-law or 6 A-law), 8-bit mono, whose every byte is a loud code
    (never the law's silence, neighbours differ), written by hand: ``wave`` writes PCM only."""
    tag = {"mulaw": 7, "alaw": 6}[law]
    data = bytes(0x10 + (i * 7) % 0x40 for i in range(int(seconds * rate)))
    fmt = struct.pack("<HHIIHHH", tag, 1, rate, rate, 1, 8, 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"fact" + struct.pack("<II", 4, len(data))
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
