"""Silence the sensitive segments of PCM and G.711 WAV audio while it streams, so muted audio
never leaves the server.

A WAV file is a RIFF header, a ``fmt `` chunk (format 1 PCM, 3 IEEE float, 6 A-law or 7 µ-law,
or WAVE_FORMAT_EXTENSIBLE with one of those as subformat; channels, sample rate, bits per sample)
and a ``data`` chunk of whole sample frames. A segment's seconds map to frames (start floored,
end ceiled: the muted range never falls short of the marked one) and frames to a byte range of
the data chunk. ``mute`` then rewrites, in each chunk of any byte range it streams, the bytes
inside those ranges with the format's silence: 0x80 for 8-bit PCM (unsigned), 0x00 for 16, 24
and 32-bit PCM (signed) and for 32 and 64-bit float (+0.0), 0xFF for µ-law and 0xD5 for A-law
(each law's code for zero). It works
on absolute positions, so neither a Range that starts or ends inside a muted range nor the
streaming encryption's segment boundaries matter, and it holds one chunk at a time.

Other formats (MP3, OGG, WebM, FLAC, M4A, compressed WAV) cannot be muted this way
(``MutingUnsupported``): they are served from a muted rendition (``recordings.audio``).
"""

from __future__ import annotations

import bisect
import math
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "MutingUnsupported",
    "WavLayout",
    "mute",
    "muted_byte_ranges",
    "wav_layout",
]

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_ALAW = 0x0006
_WAVE_FORMAT_MULAW = 0x0007
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The KSDATAFORMAT_SUBTYPE_* GUIDs without their first two bytes (those carry the format tag).
_SUBFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_SAMPLE_BITS = (8, 16, 24, 32)
# G.711's codes for a zero sample: µ-law's 0xFF (its bits are stored inverted), A-law's 0xD5
# (0x80 with the even bits inverted).
_LAW_SILENCE = {_WAVE_FORMAT_MULAW: 0xFF, _WAVE_FORMAT_ALAW: 0xD5}
# Chunks before ``data`` (fmt, LIST, bext, ...) are skipped, never read whole; a file that needs
# more of them than this to reach its data is refused rather than walked forever.
_MAX_CHUNKS = 64


class MutingUnsupported(ValueError):
    """The audio is not PCM, float or G.711 WAV (or its header is broken): its segments cannot be
    muted in place."""


@dataclass(frozen=True)
class WavLayout:
    """Where a PCM or G.711 WAV's samples are and how they are laid out."""

    channels: int
    sample_rate: int
    bits_per_sample: int
    data_offset: int  # file offset of the first sample byte
    data_size: int  # bytes of whole frames in the data chunk (clamped to the file)
    format_tag: int = _WAVE_FORMAT_PCM

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits_per_sample // 8

    @property
    def silence(self) -> int:
        if self.format_tag in _LAW_SILENCE:
            return _LAW_SILENCE[self.format_tag]
        return 0x80 if self.bits_per_sample == 8 else 0x00

    @property
    def data_end(self) -> int:
        return self.data_offset + self.data_size


def wav_layout(read_at: Callable[[int, int], bytes], size: int) -> WavLayout:
    """The layout of the PCM or G.711 WAV whose bytes ``read_at(offset, length)`` returns (up
    to ``length`` bytes, fewer at the end); ``size`` is the file's length.

    Raises MutingUnsupported for anything but integer PCM with 8, 16, 24 or 32 bits, 32 or 64-bit
    float and 8-bit µ-law or A-law.
    """
    head = read_at(0, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise MutingUnsupported("not a RIFF WAVE file")
    offset = 12
    fmt: tuple[int, int, int, int, int] | None = None
    for _ in range(_MAX_CHUNKS):
        header = read_at(offset, 8)
        if len(header) < 8:
            break
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt = _pcm_format(read_at(body, min(chunk_size, 40)))
        elif chunk_id == b"data":
            if fmt is None:
                raise MutingUnsupported("the data chunk comes before the fmt chunk")
            channels, rate, bits, block_align, tag = fmt
            # A streamed WAV may announce 0 or 0xFFFFFFFF: the file's end is the data's end.
            available = max(size - body, 0)
            data_size = available if chunk_size in (0, 0xFFFFFFFF) else min(chunk_size, available)
            data_size -= data_size % block_align
            return WavLayout(channels, rate, bits, body, data_size, tag)
        offset = body + chunk_size + (chunk_size & 1)  # chunks are padded to an even length
    raise MutingUnsupported("no data chunk found")


def _pcm_format(fmt: bytes) -> tuple[int, int, int, int, int]:
    """(channels, rate, bits, block alignment, format tag) of a PCM or G.711 ``fmt `` chunk."""
    if len(fmt) < 16:
        raise MutingUnsupported("the fmt chunk is truncated")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 40 or fmt[26:40] != _SUBFORMAT_TAIL:
            raise MutingUnsupported("extensible WAV whose subformat is not PCM or G.711")
        tag = struct.unpack("<H", fmt[24:26])[0]
        valid_bits = struct.unpack("<H", fmt[18:20])[0]
        if valid_bits > bits:
            raise MutingUnsupported("extensible WAV with more valid bits than container bits")
    if tag in _LAW_SILENCE:
        if bits != 8:
            raise MutingUnsupported(f"G.711 WAV with {bits}-bit samples (it has 8)")
    elif tag == _WAVE_FORMAT_IEEE_FLOAT:
        if bits not in (32, 64):
            raise MutingUnsupported(f"float WAV with {bits}-bit samples (32 or 64 expected)")
    elif tag != _WAVE_FORMAT_PCM:
        raise MutingUnsupported(f"WAV format {tag:#06x} is not PCM, float or G.711")
    if bits not in (*_SAMPLE_BITS, 64) or (bits == 64 and tag != _WAVE_FORMAT_IEEE_FLOAT):
        raise MutingUnsupported(f"{bits}-bit samples are not supported")
    if channels < 1 or rate < 1 or block_align != channels * bits // 8:
        raise MutingUnsupported("inconsistent fmt chunk (channels, rate or block alignment)")
    return channels, rate, bits, block_align, tag


def muted_byte_ranges(
    layout: WavLayout, segments: Iterable[tuple[Decimal | float | int, Decimal | float | int]]
) -> list[tuple[int, int]]:
    """The file byte ranges [first, stop) of the (start, end) seconds in ``segments``, aligned
    outward to whole frames, clamped to the data chunk, sorted, overlaps and neighbours joined."""
    ranges: list[tuple[int, int]] = []
    for start, end in segments:
        # Exact arithmetic: a Decimal or float second times the rate, floored and ceiled.
        first_frame = math.floor(Fraction(start) * layout.sample_rate)
        stop_frame = math.ceil(Fraction(end) * layout.sample_rate)
        first = layout.data_offset + max(first_frame, 0) * layout.frame_bytes
        stop = min(layout.data_offset + stop_frame * layout.frame_bytes, layout.data_end)
        if first < stop:
            ranges.append((first, stop))
    merged: list[tuple[int, int]] = []
    for first, stop in sorted(ranges):
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((first, stop))
    return merged


def mute(
    chunks: Iterable[bytes], start: int, ranges: Sequence[tuple[int, int]], silence: int
) -> Iterator[bytes]:
    """``chunks`` (consecutive bytes of a file from offset ``start``) with every byte inside
    ``ranges`` (sorted, disjoint [first, stop)) replaced by ``silence``; one chunk at a time."""
    firsts = [first for first, _ in ranges]
    fill = bytes([silence])
    position = start
    for chunk in chunks:
        length = len(chunk)
        chunk_stop = position + length
        # The first range that may overlap this chunk: the last one starting at or before it.
        index = max(bisect.bisect_right(firsts, position) - 1, 0)
        muted: bytearray | None = None
        while index < len(ranges) and ranges[index][0] < chunk_stop:
            first, stop = ranges[index]
            low, high = max(first, position) - position, min(stop, chunk_stop) - position
            if low < high:
                if muted is None:
                    muted = bytearray(chunk)
                muted[low:high] = fill * (high - low)
            index += 1
        yield chunk if muted is None else bytes(muted)
        position = chunk_stop
