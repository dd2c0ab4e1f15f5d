"""A stored recording's audio with spans silenced, as a plaintext stream to encrypt again: the
rewrite of redaction at rest (``recordings.redaction_at_rest``).

PCM, float and G.711 WAV are silenced byte by byte as they stream (sample-accurate, the same
bytes as muted playback, ``recordings.playback.muting``) and never touch the disk; every other
format is decoded and re-encoded by PyAV into a sealed scratch file (frame-accurate, erring on
silencing more, ``recordings.audio.render``). Either way one chunk or one frame at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import BinaryIO, cast

from recordings.audio.files import PlaintextFile, SealedScratchFile
from recordings.playback.audio import stored_wav_layout
from recordings.playback.muting import MutingUnsupported, mute, muted_byte_ranges
from recordings.vault.chunks import ChunksReader
from recordings.vault.streaming_decrypt import DecryptingReader

# Plaintext segments per chunk of a WAV silenced as it streams.
_WAV_CHUNK_SEGMENTS = 8


@dataclass(frozen=True)
class SilencedAudio:
    plaintext: BinaryIO  # read it to the end, once
    content_type: str
    muted_seconds: Decimal


def silenced_audio(
    reader: DecryptingReader,
    spans: Sequence[tuple[Decimal, Decimal]],
    *,
    scratch: SealedScratchFile,
    content_type: str,
) -> SilencedAudio:
    """The audio ``reader`` decrypts with the (start, end) seconds in ``spans`` silenced; a WAV
    keeps ``content_type``, a re-encoded file gets its own. Raises RenditionUnsupported for audio
    PyAV cannot decode or re-encode."""
    try:
        layout = stored_wav_layout(reader)
    except MutingUnsupported:
        layout = None
    if layout is not None:
        ranges = muted_byte_ranges(layout, spans)
        chunks = mute(reader.iter_range(0, None, _WAV_CHUNK_SEGMENTS), 0, ranges, layout.silence)
        frames = sum(stop - first for first, stop in ranges) // layout.frame_bytes
        return SilencedAudio(
            cast(BinaryIO, ChunksReader(chunks)), content_type, _seconds(frames, layout.sample_rate)
        )
    from recordings.audio.render import render_muted  # PyAV loads on workers only

    result = render_muted(PlaintextFile(reader), scratch, spans)
    scratch.seek(0)
    return SilencedAudio(
        cast(BinaryIO, scratch), result.content_type, _seconds(result.muted_samples, result.sample_rate)
    )


def _seconds(samples: int, rate: int) -> Decimal:
    return (Decimal(samples) / rate).quantize(Decimal("0.001"))
