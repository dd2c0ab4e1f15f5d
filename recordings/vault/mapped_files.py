"""Local files read through a read-only memory map: the bytes are used where the page cache
holds them, with no copy into a read buffer (on a 10 MB recording, that copy cost more than half
as much as encrypting it).

A mapped file must not be cut short while it is mapped: touching a page past its new end kills
the process (SIGBUS). Blobs are written once and never truncated; ingest's plaintext is an upload's
temporary file or an import folder's file, which nothing else writes while it is imported
(docs/SECURITY.md, open item 15).
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import sys
from typing import BinaryIO

# Pages are handed back to the kernel (they stay in the page cache) this many bytes behind the
# reads, and populated this many ahead: one call per window, not per page or per read.
WINDOW_BYTES = 8 * 1024 * 1024

# Linux 5.14's MADV_POPULATE_READ (Python 3.11 does not name it): fill a window's page tables in
# one call instead of one fault per 16 pages. Other systems number their advice differently.
_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22) if sys.platform.startswith("linux") else None


def map_read_only(file: BinaryIO, size: int) -> mmap.mmap | None:
    """A read-only map of a local file of exactly ``size`` bytes, or None: not a file on disk, or
    a size that does not match (the caller then reads the file and reports what is wrong)."""
    try:
        descriptor = file.fileno()
        if size <= 0 or os.fstat(descriptor).st_size != size:
            return None
        return mmap.mmap(descriptor, size, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def release_behind(mapped: mmap.mmap, released_to: int, offset: int) -> int:
    """Hand the map's pages from ``released_to`` up to ``offset`` back to the kernel (they stay
    in the page cache) once a window of them has been read, so that the resident set holds a
    window or two of the map, not all that was read; the new mark. A read further back moves the
    mark back. One call per window: one per read cost a tenth of the reader's throughput."""
    end = offset - offset % mmap.PAGESIZE
    if end < released_to:
        return end
    if end - released_to >= WINDOW_BYTES:
        mapped.madvise(mmap.MADV_DONTNEED, released_to, end - released_to)
        return end
    return released_to


def map_close(mapped: mmap.mmap) -> None:
    """Unmap; a view still held elsewhere keeps the map alive until it goes."""
    with contextlib.suppress(BufferError):
        mapped.close()


class SequentialMap:
    """``read(size)`` over the rest of a local file (from its current position) as views of its
    map, for one pass from start to end. The resident set holds about two windows whatever the
    file's size. ``close()`` unmaps and leaves the file positioned after what was read."""

    def __init__(self, file: BinaryIO, mapped: mmap.mmap, start: int) -> None:
        self._file, self._view = file, memoryview(mapped)
        self._map: mmap.mmap | None = mapped  # None once closed
        self._position = self._populated_to = start
        self._released_to = start - start % mmap.PAGESIZE
        self._size = len(mapped)

    @classmethod
    def open(cls, file: BinaryIO, *, at_least: int) -> SequentialMap | None:
        """The map of ``file`` from its position on, or None when it is not a local file or has
        fewer than ``at_least`` bytes left (a map costs more than it saves on small files)."""
        try:
            start, size = file.tell(), os.fstat(file.fileno()).st_size
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        if size - start < at_least:
            return None
        mapped = map_read_only(file, size)
        return None if mapped is None else cls(file, mapped, start)

    def read(self, size: int) -> memoryview:
        mapped = self._map
        if mapped is None:
            raise ValueError("read from a closed SequentialMap")
        start = self._position
        end = min(start + size, self._size)
        if end > self._populated_to:
            self._populate(mapped, end)
        self._released_to = release_behind(mapped, self._released_to, start)
        self._position = end
        return self._view[start:end]

    def _populate(self, mapped: mmap.mmap, needed: int) -> None:
        start = self._populated_to - self._populated_to % mmap.PAGESIZE
        end = min(max(needed, start + WINDOW_BYTES), self._size)
        if _MADV_POPULATE_READ is not None:
            # An older kernel refuses the advice (EINVAL): its pages then fault in one by one.
            with contextlib.suppress(OSError):
                mapped.madvise(_MADV_POPULATE_READ, start, end - start)
        self._populated_to = end

    def close(self) -> None:
        if self._map is None:
            return
        self._view.release()
        map_close(self._map)
        self._map = None
        with contextlib.suppress(OSError, ValueError):
            self._file.seek(self._position)
