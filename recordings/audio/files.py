"""The file objects a rendition is made with: the stored audio read as a seekable plaintext file
(``PlaintextFile``, over the vault's decrypting reader), and a scratch file for the encoder's
output that never holds plaintext on disk (``SealedScratchFile``).

Muxers seek back to finish their headers (WAV and FLAC sizes, a Matroska's cues, an MP4's
``moov``), so the output cannot stream straight into the vault's append-only encryption. It is
written to an anonymous temporary file instead, through AES-256-CTR under a key that lives only
in this process: CTR encrypts any byte at any offset on its own, so the muxer can seek and
rewrite, and a crash leaves only ciphertext whose key died with the process. Once the muxer is
done the scratch file is read back in order and encrypted under the recording's key.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from recordings.vault.streaming_aead import HEADER_SIZE, PLAINTEXT_SEGMENT_SIZE, SEGMENT_SIZE, TAG_SIZE
from recordings.vault.streaming_decrypt import DecryptingReader

if TYPE_CHECKING:
    from typing_extensions import Buffer

_FIRST_SEGMENT = SEGMENT_SIZE - HEADER_SIZE - TAG_SIZE  # plaintext bytes of the first segment
# Segments decrypted per read: a decoder asks for 32 KiB at a time; a window of four segments
# (256 KiB) is decrypted once, not once per read.
_WINDOW_SEGMENTS = 4
_BLOCK = 16  # AES block: the CTR counter counts these
# A muxer writes a packet at a time (a few hundred bytes): consecutive writes are gathered and
# encrypted this many bytes at a time, not one cipher per packet.
_WRITE_BUFFER = 1024 * 1024


class PlaintextFile(io.RawIOBase):
    """A read-only, seekable file of a stored blob's plaintext, decrypted a window of segments at
    a time as it is read (each segment authenticated first); holds one window."""

    def __init__(self, reader: DecryptingReader) -> None:
        super().__init__()
        self._reader = reader
        self._size = reader.plaintext_size
        self._position = 0
        self._window_start, self._window = 0, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    @staticmethod
    def _segment_start(position: int) -> int:
        if position < _FIRST_SEGMENT:
            return 0
        return _FIRST_SEGMENT + (position - _FIRST_SEGMENT) // PLAINTEXT_SEGMENT_SIZE * PLAINTEXT_SEGMENT_SIZE

    def readinto(self, buffer: Buffer) -> int:
        out = memoryview(buffer).cast("B")
        if self._position >= self._size or not len(out):
            return 0
        relative = self._position - self._window_start
        if not 0 <= relative < len(self._window):
            start = self._segment_start(self._position)
            end = min(start + _WINDOW_SEGMENTS * PLAINTEXT_SEGMENT_SIZE, self._size) - 1
            self._window_start, self._window = start, b"".join(self._reader.iter_range(start, end))
            relative = self._position - start
        count = min(len(out), len(self._window) - relative)
        out[:count] = self._window[relative : relative + count]
        self._position += count
        return count


class SealedScratchFile(io.RawIOBase):
    """A readable, writable, seekable temporary file whose bytes on disk are AES-256-CTR under a
    key held only by this object; closing it deletes the file (it has no name on disk)."""

    def __init__(self, directory: str | None = None) -> None:
        super().__init__()
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (closed by close())
        self._key = os.urandom(32)
        self._prefix = os.urandom(8)  # the counter block: 8 random bytes, then the block number
        self._position = 0
        self._size = 0  # on disk, without the pending bytes
        self._pending_at, self._pending = 0, bytearray()  # written here, not yet encrypted

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    @property
    def size(self) -> int:
        return max(self._size, self._pending_at + len(self._pending))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def _crypt(self, offset: int, data: bytes | memoryview) -> bytes:
        """``data`` XOR the keystream at ``offset``: encrypts and decrypts alike."""
        skip = offset % _BLOCK
        counter = self._prefix + (offset // _BLOCK).to_bytes(8, "big")
        cipher = Cipher(algorithms.AES(self._key), modes.CTR(counter)).encryptor()
        if skip:
            cipher.update(bytes(skip))
        return cipher.update(data)

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        if self._position != self._pending_at + len(self._pending):
            self.flush()
            self._pending_at = self._position
        self._pending += view
        self._position += len(view)
        if len(self._pending) >= _WRITE_BUFFER:
            self.flush()
            self._pending_at = self._position
        return len(view)

    def flush(self) -> None:
        """Encrypt the gathered writes onto the disk."""
        if self._pending:
            if self._pending_at > self._size:  # a seek past the end: the gap reads as zeros
                self._file.seek(self._size)
                self._file.write(self._crypt(self._size, bytes(self._pending_at - self._size)))
            self._file.seek(self._pending_at)
            self._file.write(self._crypt(self._pending_at, self._pending))
            self._size = max(self._size, self._pending_at + len(self._pending))
            self._pending = bytearray()

    def readinto(self, buffer: Buffer) -> int:
        self.flush()
        out = memoryview(buffer).cast("B")
        count = max(min(len(out), self._size - self._position), 0)
        if not count:
            return 0
        self._file.seek(self._position)
        data = self._file.read(count)
        out[: len(data)] = self._crypt(self._position, data)
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._pending = bytearray()
            self._file.close()
            self._key = b""
        super().close()
