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
``storage.save`` / ``upload_fileobj``); ``streaming_decrypt.DecryptingReader`` decrypts any byte
range of a seekable ciphertext by reading only the segments that cover it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recordings.vault.mapped_files import SequentialMap

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

__all__ = [
    "HEADER_SIZE",
    "KEY_SIZE",
    "PLAINTEXT_SEGMENT_SIZE",
    "SEGMENT_SIZE",
    "TAG_SIZE",
    "EncryptingReader",
    "HeaderError",
    "SegmentAuthenticationError",
    "StreamingAeadError",
    "TruncatedCiphertextError",
    "TruncatedHeaderError",
    "ciphertext_size",
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
PLAINTEXT_SEGMENT_SIZE = _PLAINTEXT_SEGMENT_SIZE  # the most plaintext a segment holds
_MAX_SEGMENTS = 2**32  # the segment number is a 32-bit field of the nonce

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

    def _plaintext_segments(self) -> Generator[bytes | memoryview]:
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

    def _ciphertext_segments(self) -> Generator[bytes | memoryview]:
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
            segment = following = b""  # drop the views of the map: let it close
            segments.close()
            if self._mapped is not None:
                self._mapped.close()
                self._mapped = None

    def ciphertext_views(self) -> Iterator[bytes | memoryview]:
        """The rest of the ciphertext, a segment (or what is left of one) at a time. Each chunk
        but the header is a view of a reused buffer: use it (write it out) before asking for the
        next one, and never keep it."""
        if self._pending:
            pending, self._pending = self._pending, memoryview(b"")
            self._position += len(pending)
            yield pending
        for chunk in self._segments:
            self._position += len(chunk)
            yield chunk

    def readinto(self, buffer: Buffer) -> int:
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
