"""Reading the streaming AEAD format (streaming_aead): random access by byte range, each segment
authenticated before a byte of it is returned; truncation, reordering and bit flips are errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from recordings.vault.mapped_files import map_close, map_read_only, release_behind
from recordings.vault.streaming_aead import (
    _FIRST_PLAINTEXT_SIZE,
    _MAX_SEGMENTS,
    _PLAINTEXT_SEGMENT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    HeaderError,
    SegmentAuthenticationError,
    StreamingAeadError,
    TruncatedCiphertextError,
    TruncatedHeaderError,
    _check_key,
    _layout,
    _nonce,
    _segment_aead,
)

# How far from a failed segment's position to look for the segment its bytes really are; this
# runs only after a failure, to tell a dropped or reordered segment from a tampered one.
_DIAGNOSIS_WINDOW = 2

# A range over several segments is read this many segments (512 KiB) at a time, never past the
# range: one read per segment would cost as much as decrypting it (see docs/PERFORMANCE.md).
_READ_AHEAD_SEGMENTS = 8


class DecryptingReader:
    """Random-access decryption of a seekable ciphertext file object.

    On construction it reads the header and authenticates the last segment once (kept in
    memory), so a stream cut at a segment boundary, a wrong key or recording id, or a modified
    header fail here, before any plaintext is served. ``iter_range`` then reads and authenticates
    only the segments that cover a range. It seeks the shared file object: not thread-safe.
    """

    def __init__(
        self, ciphertext: BinaryIO, *, key: bytes, associated_data: bytes, ciphertext_size: int
    ) -> None:
        _check_key(key, associated_data)
        self._file = ciphertext
        self._map = map_read_only(ciphertext, ciphertext_size)
        self._released_to = 0  # the map's pages before this offset were handed back
        self._ciphertext_size = ciphertext_size
        self._segments, self._last_size = _layout(ciphertext_size)
        self._plaintext_size = ciphertext_size - HEADER_SIZE - self._segments * TAG_SIZE
        self._last_index = self._segments - 1

        header = self._read_at(0, HEADER_SIZE)
        if len(header) < HEADER_SIZE:
            raise TruncatedHeaderError(
                f"ciphertext ends after {len(header)} bytes, inside the {HEADER_SIZE}-byte header "
                f"(expected {ciphertext_size} bytes)"
            )
        if header[0] != HEADER_SIZE:
            raise HeaderError(
                f"bad header length byte {header[0]} (expected {HEADER_SIZE}): not an AES-GCM-HKDF "
                "streaming ciphertext with 32-byte keys, or the header was modified"
            )
        self._nonce_prefix = bytes(header[1 + KEY_SIZE :])
        self._aead = _segment_aead(key, bytes(header[1 : 1 + KEY_SIZE]), associated_data)

        # Read one byte past the declared end: trailing bytes mean the size on record is wrong.
        offset, length = self._segment_span(self._last_index)
        data = self._read_at(offset, length + 1)
        if len(data) > length:
            raise StreamingAeadError(
                f"ciphertext is longer than the declared ciphertext_size of {ciphertext_size} bytes"
            )
        self._check_complete(offset, length, data)
        self._last_plaintext = self._decrypt(self._last_index, data)

    @property
    def plaintext_size(self) -> int:
        return self._plaintext_size

    def _segment_span(self, index: int) -> tuple[int, int]:
        """(file offset, length) of segment ``index``'s ciphertext (the header is not part of it)."""
        offset = HEADER_SIZE if index == 0 else index * SEGMENT_SIZE
        if index == self._last_index:
            return offset, self._last_size
        return offset, SEGMENT_SIZE - (HEADER_SIZE if index == 0 else 0)

    @staticmethod
    def _plaintext_offset(index: int) -> int:
        return 0 if index == 0 else _FIRST_PLAINTEXT_SIZE + (index - 1) * _PLAINTEXT_SEGMENT_SIZE

    @staticmethod
    def _segment_of(position: int) -> int:
        if position < _FIRST_PLAINTEXT_SIZE:
            return 0
        return 1 + (position - _FIRST_PLAINTEXT_SIZE) // _PLAINTEXT_SEGMENT_SIZE

    def _read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; short only at the end of the file."""
        self._file.seek(offset)
        parts = []
        remaining = length
        while remaining > 0:
            chunk = self._file.read(remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def _read_block(self, offset: int, length: int) -> memoryview:
        """Up to ``length`` bytes at ``offset``, as ``_read_at``; from a local file, a view of its
        memory map with no copy (reading a copy cost as much as decrypting it, docs/PERFORMANCE.md)."""
        if self._map is None:
            return memoryview(self._read_at(offset, length))
        self._released_to = release_behind(self._map, self._released_to, offset)
        return memoryview(self._map)[offset : offset + length]

    def close(self) -> None:
        """Unmap the file (the caller closes the file itself). A view still held elsewhere keeps
        the map until it goes; nothing here needs it after the last chunk was read."""
        if self._map is not None:
            map_close(self._map)
            self._map = None

    def _check_complete(self, offset: int, length: int, data: bytes) -> None:
        if len(data) < length:
            raise TruncatedCiphertextError(
                f"ciphertext is truncated: it ends at byte {offset + len(data)}, but the declared "
                f"ciphertext_size is {self._ciphertext_size} bytes"
            )

    def _decrypt(self, index: int, ciphertext: bytes) -> bytes:
        last = index == self._last_index
        try:
            return self._aead.decrypt(_nonce(self._nonce_prefix, index, last), ciphertext, None)
        except InvalidTag:
            raise self._diagnose(index, ciphertext) from None

    def _diagnose(self, index: int, ciphertext: bytes) -> StreamingAeadError:
        """The most precise error for segment ``index`` failing: try nearby (number, flag) pairs.

        Only a failed decryption gets here, and the probes are a handful of AES-GCM tag checks.
        """
        is_last = index == self._last_index
        candidates = [(index, not is_last)]
        for distance in range(1, _DIAGNOSIS_WINDOW + 1):
            for other in (index + distance, index - distance):
                if 0 <= other < _MAX_SEGMENTS:
                    candidates += [(other, False), (other, True)]
        for number, flag in candidates:
            try:
                self._aead.decrypt(_nonce(self._nonce_prefix, number, flag), ciphertext, None)
            except InvalidTag:
                continue
            if number == index and is_last:
                return TruncatedCiphertextError(
                    f"ciphertext is truncated at a segment boundary: segment {index} is the last one "
                    "present but was written as a non-final segment, so the segments after it are missing"
                )
            if number == index:
                return SegmentAuthenticationError(
                    f"segment {index} was written as the final segment but more data follows it: "
                    "segments were appended or reordered",
                    segment_index=index,
                )
            return SegmentAuthenticationError(
                f"segment {index} failed authentication: its bytes are segment {number} of this stream, "
                "so segments were dropped, duplicated or reordered",
                segment_index=index,
            )
        cut = ", truncated" if is_last else ""
        return SegmentAuthenticationError(
            f"segment {index} (counting from 0, of {self._segments}) failed authentication: wrong key "
            f"or associated data (recording id), or tampered segment {index} (its bytes or the stream "
            f"header were modified{cut} or reordered)",
            segment_index=index,
        )

    def iter_range(self, start: int = 0, end: int | None = None, chunk_segments: int = 1) -> Iterator[bytes]:
        """Yield the plaintext bytes ``start`` to ``end`` inclusive (``end`` None: to the end).

        An ``end`` past the last byte is clamped to it, as an HTTP range would be. Each yielded chunk
        covers up to ``chunk_segments`` segments, all authenticated before any of their bytes is
        yielded; a failing segment raises before its chunk is yielded. After the first chunk, the
        segments are read a few whole chunks at a time (about 512 KiB), never past the range.
        """
        if chunk_segments < 1:
            raise ValueError("chunk_segments must be at least 1")
        if start < 0:
            raise ValueError(f"range start {start} is negative")
        last_byte = self._plaintext_size - 1
        stop = last_byte if end is None else min(end, last_byte)
        if end is not None and end < start:
            raise ValueError(f"range end {end} is before its start {start}")
        if start > stop:
            if start == 0 and self._plaintext_size == 0:
                return iter(())  # the empty stream: authenticated already, nothing to yield
            raise ValueError(f"range start {start} is past the last plaintext byte {last_byte}")
        return self._iter_segments(start, stop, chunk_segments)

    def _iter_segments(self, start: int, stop: int, chunk_segments: int) -> Iterator[bytes]:
        first, final = self._segment_of(start), self._segment_of(stop)
        # The last segment was authenticated and kept at construction: never read it again.
        read_final = final - 1 if final == self._last_index else final
        # Whole chunks per read, so that a chunk's segments always come from one read; the first
        # chunk is read alone, so that the read-ahead never holds back the first byte of a range.
        block_segments = chunk_segments * -(-_READ_AHEAD_SEGMENTS // chunk_segments)
        block, block_offset, block_end = memoryview(b""), 0, first  # block_end: first index not read
        decrypt, prefix = self._aead.decrypt, self._nonce_prefix  # segments read here are never the last
        for group_start in range(first, final + 1, chunk_segments):
            pieces = []
            for index in range(group_start, min(group_start + chunk_segments, final + 1)):
                if index == self._last_index:
                    plaintext = self._last_plaintext
                else:
                    if index >= block_end:
                        ahead = chunk_segments if index == first else block_segments
                        block_end = min(index + ahead, read_final + 1)
                        block_offset = self._segment_span(index)[0]
                        block = self._read_block(
                            block_offset, sum(self._segment_span(block_end - 1)) - block_offset
                        )
                    offset, length = self._segment_span(index)
                    relative = offset - block_offset
                    if relative + length > len(block):
                        self._check_complete(block_offset, relative + length, block)
                    ciphertext = block[relative : relative + length]
                    try:  # _decrypt inlined: this loop runs once per 64 KiB of every playback
                        plaintext = decrypt(prefix + index.to_bytes(4, "big") + b"\x00", ciphertext, None)
                    except InvalidTag:
                        raise self._diagnose(index, ciphertext) from None
                base = self._plaintext_offset(index)
                if start <= base and stop - base + 1 >= len(plaintext):
                    pieces.append(plaintext)  # the whole segment is in the range: no slice
                else:
                    pieces.append(plaintext[max(start - base, 0) : stop - base + 1])
            yield pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def iter_into(self, buffers: list[bytearray], chunk_segments: int) -> Iterator[memoryview]:
        """The whole plaintext, ``chunk_segments`` segments at a time, each chunk decrypted into the
        next of ``buffers`` (``decrypt_into``: no allocation, no join) and yielded as a view of it,
        every segment authenticated before its chunk is yielded. The list is rotated as it is used,
        so that readers sharing it one after the other take the buffers in turn. A view is valid
        until its buffer comes round again: the caller must be done with a chunk
        ``len(buffers) - 1`` such chunks later. Each buffer holds ``chunk_segments`` whole segments;
        a chunk shorter than one segment (a short stream's tail) gets a buffer of its own. For
        a consumer that streams the bytes on (the access package); one that keeps them takes
        ``iter_range``."""
        if chunk_segments < 1 or any(len(b) < chunk_segments * _PLAINTEXT_SEGMENT_SIZE for b in buffers):
            raise ValueError("each buffer must hold chunk_segments whole plaintext segments")
        decrypt, prefix, last = self._aead.decrypt_into, self._nonce_prefix, self._last_index
        for first in range(0, last + 1, chunk_segments):
            stop = min(first + chunk_segments, last + 1)
            end = self._plaintext_size if stop > last else self._plaintext_offset(stop)
            if end - self._plaintext_offset(first) < _PLAINTEXT_SEGMENT_SIZE:
                out = memoryview(bytearray(end - self._plaintext_offset(first)))  # a short tail
            else:
                buffers.append(buffer := buffers.pop(0))  # the ring turns across calls too
                out = memoryview(buffer)
            written = 0
            if first < last:  # one read for the chunk's segments (the last one is in memory)
                offset = self._segment_span(first)[0]
                expected = sum(self._segment_span(min(stop, last) - 1)) - offset
                block = self._read_block(offset, expected)
                if len(block) < expected:
                    self._check_complete(offset, expected, block)
            for index in range(first, stop):
                if index == last:
                    plaintext = self._last_plaintext
                    out[written : written + len(plaintext)] = plaintext
                    written += len(plaintext)
                    continue
                start, length = self._segment_span(index)
                ciphertext = block[start - offset : start - offset + length]
                target = out[written : written + length - TAG_SIZE]
                try:
                    decrypt(prefix + index.to_bytes(4, "big") + b"\x00", ciphertext, None, target)
                except InvalidTag:
                    raise self._diagnose(index, bytes(ciphertext)) from None
                written += length - TAG_SIZE
            yield out[:written]


def decrypt_bytes(ciphertext: bytes, *, key: bytes, associated_data: bytes) -> bytes:
    """Decrypt and authenticate a whole in-memory ciphertext."""
    reader = DecryptingReader(
        io.BytesIO(ciphertext), key=key, associated_data=associated_data, ciphertext_size=len(ciphertext)
    )
    return b"".join(reader.iter_range(chunk_segments=16))
