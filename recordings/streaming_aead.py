"""Tink-compatible AES-GCM-HKDF streaming AEAD for call audio at rest, built on ``cryptography``.

The wire format is Tink's ``AesGcmHkdfStreaming`` with fixed parameters (HKDF-SHA256, a 32-byte
derived AES-256-GCM key, 65536-byte ciphertext segments, 16-byte tags, no first-segment offset),
so a blob written here decrypts with Tink and vice versa::

    header     = 0x28 (the header length, 40) || salt (32 random bytes) || nonce prefix (7 bytes)
    key_i      = HKDF-SHA256(ikm=key, salt=salt, info=associated_data, length=32)
    nonce_i    = nonce prefix || i as 4 bytes big-endian || 0x01 for the last segment else 0x00
    segment_i  = AES-256-GCM(key_i, nonce_i, plaintext_i, associated data = none) (ct || tag)
    ciphertext = header || segment_0 || segment_1 || ... || segment_n

The header shares the first 65536-byte ciphertext segment, so segment 0 carries 65480 plaintext
bytes and every other segment 65520. The associated data (the recording id) enters only through
the HKDF info, exactly as Tink does: a wrong key, a wrong recording id and a modified salt or nonce
prefix all look the same, every segment fails to authenticate. The last-segment flag in the nonce
makes a stream cut at a segment boundary fail to authenticate, and the segment number makes a
dropped or reordered segment fail.

``EncryptingReader`` turns a plaintext file into a ciphertext file object with bounded memory (for
``storage.save`` / ``upload_fileobj``); ``DecryptingReader`` decrypts any byte range of a seekable
ciphertext by reading only the segments that cover it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recordings.mapped_files import SequentialMap, map_close, map_read_only, release_behind

__all__ = [
    "HEADER_SIZE",
    "KEY_SIZE",
    "SEGMENT_SIZE",
    "TAG_SIZE",
    "DecryptingReader",
    "EncryptingReader",
    "HeaderError",
    "SegmentAuthenticationError",
    "StreamingAeadError",
    "TruncatedCiphertextError",
    "TruncatedHeaderError",
    "ciphertext_size",
    "decrypt_bytes",
    "encrypt_bytes",
    "plaintext_size",
]

SEGMENT_SIZE = 65536
KEY_SIZE = 32
TAG_SIZE = 16
_NONCE_PREFIX_SIZE = 7
HEADER_SIZE = 1 + KEY_SIZE + _NONCE_PREFIX_SIZE  # the salt is as long as the derived key
_FIRST_PLAINTEXT_SIZE = SEGMENT_SIZE - HEADER_SIZE - TAG_SIZE  # 65480
_PLAINTEXT_SEGMENT_SIZE = SEGMENT_SIZE - TAG_SIZE  # 65520
_MAX_SEGMENTS = 2**32  # the segment number is a 32-bit field of the nonce

# How far from a failed segment's position to look for the segment its bytes really are; this
# runs only after a failure, to tell a dropped or reordered segment from a tampered one.
_DIAGNOSIS_WINDOW = 2

# A range over several segments is read this many segments (512 KiB) at a time, never past the
# range: one read per segment would cost as much as decrypting it (see docs/PERFORMANCE.md).
_READ_AHEAD_SEGMENTS = 8

# A plaintext file is mapped (not read into buffers) from this size on: below it, setting up
# the map costs more than the copies it saves.
_MAP_PLAINTEXT_AT_LEAST = 1024 * 1024
# Segments taken from a mapped plaintext per read: about a window of the map (8 MiB).
_SEGMENTS_PER_MAPPED_READ = 128


class StreamingAeadError(ValueError):
    """The ciphertext cannot be decrypted; the message names the problem."""


class HeaderError(StreamingAeadError):
    """The stream header is malformed (bad length byte) or incomplete."""


class TruncatedCiphertextError(StreamingAeadError):
    """The ciphertext is shorter than a complete stream."""


class TruncatedHeaderError(HeaderError, TruncatedCiphertextError):
    """The ciphertext ends inside the header: both a header problem and a truncation."""


class SegmentAuthenticationError(StreamingAeadError):
    """A segment failed authentication; ``segment_index`` is its position in the stream."""

    def __init__(self, message: str, *, segment_index: int) -> None:
        super().__init__(message)
        self.segment_index = segment_index


def _check_key(key: bytes, associated_data: bytes) -> None:
    # Programming errors, not ciphertext problems: plain ValueError/TypeError.
    if not isinstance(key, bytes | bytearray | memoryview) or len(key) != KEY_SIZE:
        raise ValueError(f"the streaming AEAD key must be {KEY_SIZE} bytes")
    if not isinstance(associated_data, bytes | bytearray | memoryview):
        raise TypeError("associated_data must be bytes")


def _segment_aead(key: bytes, salt: bytes, associated_data: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=bytes(associated_data))
    return AESGCM(derived.derive(bytes(key)))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _segment_count(plaintext_size: int) -> int:
    if plaintext_size <= _FIRST_PLAINTEXT_SIZE:
        return 1
    return 1 + -(-(plaintext_size - _FIRST_PLAINTEXT_SIZE) // _PLAINTEXT_SEGMENT_SIZE)


def ciphertext_size(plaintext_size: int) -> int:
    """The exact ciphertext length for ``plaintext_size`` bytes (the same as Tink's)."""
    if plaintext_size < 0:
        raise ValueError("plaintext_size must be non-negative")
    return HEADER_SIZE + plaintext_size + _segment_count(plaintext_size) * TAG_SIZE


def _layout(ciphertext_size: int) -> tuple[int, int]:
    """(number of segments, ciphertext length of the last segment) of a complete stream."""
    if ciphertext_size < HEADER_SIZE:
        raise TruncatedHeaderError(
            f"ciphertext of {ciphertext_size} bytes is truncated inside the {HEADER_SIZE}-byte header"
        )
    segments = max(1, -(-ciphertext_size // SEGMENT_SIZE))
    last_size = ciphertext_size - (segments - 1) * SEGMENT_SIZE
    if segments == 1:
        last_size -= HEADER_SIZE
    if last_size < TAG_SIZE:
        raise TruncatedCiphertextError(
            f"ciphertext of {ciphertext_size} bytes is truncated: its last segment {segments - 1} "
            f"would be {last_size} bytes, shorter than its {TAG_SIZE}-byte tag"
        )
    if segments > _MAX_SEGMENTS:
        raise StreamingAeadError(f"ciphertext of {ciphertext_size} bytes has too many segments")
    return segments, last_size


def plaintext_size(ciphertext_size: int) -> int:
    """The plaintext length of a complete stream of ``ciphertext_size`` bytes.

    Raises TruncatedCiphertextError when no complete stream has that length.
    """
    segments, _ = _layout(ciphertext_size)
    return ciphertext_size - HEADER_SIZE - segments * TAG_SIZE


class EncryptingReader(io.RawIOBase):
    """Wraps a plaintext binary file object; read(n) returns ciphertext bytes, streaming.

    Holds at most two plaintext segments (the one being encrypted and the next, read ahead to
    know whether this one is the last) and one ciphertext segment, so ``storage.save()`` /
    ``upload_fileobj`` can consume it whatever the file size. ``read(n)`` returns exactly ``n``
    bytes until the end of the stream (consumers that stop at a short read are safe);
    ``ciphertext_views()`` yields the same bytes a segment at a time without copying them.
    ``plaintext_bytes_read`` and, with ``digest=True``, ``sha256`` (a hashlib object) describe the
    plaintext consumed so far; after EOF they describe the whole file. A caller that already
    knows the plaintext's hash passes ``digest=False``: SHA-256 costs more than the encryption.
    A local plaintext file of a MiB or more is read through a memory map (``SequentialMap``)
    rather than copied into read buffers. Closing this reader does not close ``plaintext``.
    """

    def __init__(
        self, plaintext: BinaryIO, *, key: bytes, associated_data: bytes, digest: bool = True
    ) -> None:
        super().__init__()
        _check_key(key, associated_data)
        self._plaintext = plaintext
        self._key, self._associated_data = key, associated_data
        self._pending = memoryview(b"")  # ciphertext produced but not yet returned
        self._mapped: SequentialMap | None = None  # the plaintext's map, while it is read
        self._segments = self._ciphertext_segments()
        self._position = 0
        self.plaintext_bytes_read = 0
        self.sha256 = hashlib.sha256() if digest else None

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def _read_plaintext(self, size: int) -> bytes:
        """Up to ``size`` bytes, fewer only at the end of the source (a pipe's short reads are
        joined), counted and hashed."""
        data = self._mapped.read(size) if self._mapped is not None else self._read_source(size)
        self.plaintext_bytes_read += len(data)
        if self.sha256 is not None:
            self.sha256.update(data)
        return data

    def _read_source(self, size: int) -> bytes:
        """Up to ``size`` bytes of the plaintext file object itself, joining short reads."""
        data = self._plaintext.read(size)
        if data is None:
            raise BlockingIOError("the plaintext source is non-blocking and has no data ready")
        if data and len(data) < size:
            parts = [data]
            missing = size - len(data)
            while missing and (more := self._plaintext.read(missing)):
                parts.append(more)
                missing -= len(more)
            if more is None:
                raise BlockingIOError("the plaintext source is non-blocking and has no data ready")
            data = b"".join(parts)
        return data

    def _plaintext_segments(self) -> Iterator[bytes | memoryview]:
        """The plaintext in segments, the first shorter (the header shares its segment), none
        empty. A mapped file is read a window of segments at a time and cut into views: one read
        per window, not per segment."""
        per_read = _SEGMENTS_PER_MAPPED_READ if self._mapped is not None else 1
        block = self._read_plaintext(_FIRST_PLAINTEXT_SIZE)
        while block:
            if len(block) <= _PLAINTEXT_SEGMENT_SIZE:
                yield block
            else:
                for start in range(0, len(block), _PLAINTEXT_SEGMENT_SIZE):
                    yield block[start : start + _PLAINTEXT_SEGMENT_SIZE]
            block = self._read_plaintext(per_read * _PLAINTEXT_SEGMENT_SIZE)

    def _ciphertext_segments(self) -> Iterator[bytes | memoryview]:
        """The header (bytes), then each segment as a view of one reused buffer, valid until the
        next is asked for: encrypting into place saves an allocation per segment, and the buffer
        stays in the CPU cache for whoever copies it out (a file write)."""
        salt = os.urandom(KEY_SIZE)
        nonce_prefix = os.urandom(_NONCE_PREFIX_SIZE)
        aead = _segment_aead(self._key, salt, self._associated_data)
        out = memoryview(bytearray(SEGMENT_SIZE))
        yield bytes([HEADER_SIZE]) + salt + nonce_prefix
        self._mapped = SequentialMap.open(self._plaintext, at_least=_MAP_PLAINTEXT_AT_LEAST)
        segments = self._plaintext_segments()
        try:
            segment = next(segments, b"")
            index = 0
            # A segment is encrypted once the next one is known to exist: a plaintext that exactly
            # fills its segments ends there, as in Tink (no empty trailing segment).
            for following in segments:
                if index == _MAX_SEGMENTS - 1:
                    raise StreamingAeadError("plaintext is too large for the streaming AEAD format")
                encrypted = out if len(segment) == _PLAINTEXT_SEGMENT_SIZE else out[: len(segment) + TAG_SIZE]
                # _nonce(nonce_prefix, index, False), inlined: this loop runs once per 64 KiB.
                aead.encrypt_into(nonce_prefix + index.to_bytes(4, "big") + b"\x00", segment, None, encrypted)
                yield encrypted
                segment, index = following, index + 1
            encrypted = out[: len(segment) + TAG_SIZE]
            aead.encrypt_into(_nonce(nonce_prefix, index, True), segment, None, encrypted)
            yield encrypted
        finally:
            segment = following = None  # views of the map: let it close
            segments.close()
            if self._mapped is not None:
                self._mapped.close()
                self._mapped = None

    def ciphertext_views(self) -> Iterator[bytes | memoryview]:
        """The rest of the ciphertext, a segment (or what is left of one) at a time. Each chunk
        but the header is a view of a reused buffer: use it (write it out) before asking for the
        next one, and never keep it."""
        if self._pending:
            chunk, self._pending = self._pending, memoryview(b"")
            self._position += len(chunk)
            yield chunk
        for chunk in self._segments:
            self._position += len(chunk)
            yield chunk

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("read from a closed EncryptingReader")
        out = memoryview(buffer).cast("B")
        written = 0
        while written < len(out):
            if not self._pending:
                chunk = next(self._segments, None)
                if chunk is None:
                    break
                self._pending = memoryview(chunk)
            count = min(len(out) - written, len(self._pending))
            out[written : written + count] = self._pending[:count]
            self._pending = self._pending[count:]
            written += count
        self._position += written
        return written

    def close(self) -> None:
        """Stop encrypting: the plaintext's map, if any, is closed (the plaintext file is not)."""
        self._segments.close()
        super().close()

    def readall(self) -> bytes:
        ciphertext = bytearray()
        for chunk in self.ciphertext_views():
            ciphertext += chunk
        return bytes(ciphertext)


def encrypt_bytes(plaintext: bytes, *, key: bytes, associated_data: bytes) -> bytes:
    """Encrypt a whole in-memory plaintext (convenience for small payloads and tests)."""
    return EncryptingReader(io.BytesIO(plaintext), key=key, associated_data=associated_data).readall()


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


def decrypt_bytes(ciphertext: bytes, *, key: bytes, associated_data: bytes) -> bytes:
    """Decrypt and authenticate a whole in-memory ciphertext."""
    reader = DecryptingReader(
        io.BytesIO(ciphertext), key=key, associated_data=associated_data, ciphertext_size=len(ciphertext)
    )
    return b"".join(reader.iter_range(chunk_segments=16))
