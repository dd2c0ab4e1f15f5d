"""A read-only file over an iterable of byte chunks, so that ``EncryptingReader`` (which reads a
file) can encrypt what a generator produces: a package's ZIP stream, audio muted as it streams."""

from __future__ import annotations

import io
from collections.abc import Iterable


class ChunksReader(io.RawIOBase):
    """A read-only binary file over an iterable of byte chunks, so that
    ``EncryptingReader`` can pull from a generator. Holds at most one chunk, as it came (a view of
    a reused buffer stays a view). ``read`` returns a view into it rather than a copy (the
    encryption takes any buffer): a package is every byte of a subject's audio, and each copy of
    it costs."""

    def __init__(self, chunks: Iterable[bytes | memoryview]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._chunk = memoryview(b"")
        self._offset = 0

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        while self._offset >= len(self._chunk):
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._chunk, self._offset = memoryview(chunk), 0
        return True

    def read(self, size: int | None = -1) -> bytes | memoryview:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        if size == 0 or not self._fill():
            return b""
        taken = self._chunk[self._offset : self._offset + size]
        self._offset += len(taken)
        return taken

    def readinto(self, buffer) -> int:
        taken = self.read(len(memoryview(buffer).cast("B")))
        memoryview(buffer).cast("B")[: len(taken)] = taken
        return len(taken)
