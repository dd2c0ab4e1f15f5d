"""Parsing of a single HTTP byte range (RFC 9110 section 14), enough for audio seeking."""

from __future__ import annotations

import re

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class UnsatisfiableRange(ValueError):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (start, end) a ``Range`` header asks for, or None to send the whole body.

    A multi-range or malformed header is ignored (the whole body is sent, as RFC 9110 allows);
    a range that starts past the end raises UnsatisfiableRange (answered with 416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0:
            raise UnsatisfiableRange(header)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise UnsatisfiableRange(header)
    return start, end
