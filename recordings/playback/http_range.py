"""Parsing of a single HTTP byte range (RFC 9110 section 14), enough for audio seeking."""

from __future__ import annotations

import re

_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
# 2**64 - 1 has 20 digits: no byte position of any file is longer. Python refuses to convert a
# number of more than 4,300 digits (ValueError), and a header may carry one; so a position is
# measured before it is converted.
MAX_POSITION_DIGITS = 20


class UnsatisfiableRange(ValueError):
    """A range this server will not serve (answered with 416); its message says why."""


def _position(digits: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > MAX_POSITION_DIGITS:
        raise UnsatisfiableRange(
            f"A byte position in the Range header has more than {MAX_POSITION_DIGITS} digits."
        )
    return int(significant or "0")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (start, end) a ``Range`` header asks for, or None to send the whole body.

    A multi-range or malformed header is ignored (the whole body is sent, as RFC 9110 allows);
    a range that starts past the end, or names a position longer than any file's, raises
    UnsatisfiableRange (answered with 416).
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
        length = _position(last)
        if length == 0:
            raise UnsatisfiableRange("A suffix range of zero bytes selects nothing.")
        return max(size - length, 0), size - 1
    start = _position(first)
    end = _position(last) if last else None
    if start >= size:
        raise UnsatisfiableRange(f"The range starts past the end of the {size}-byte recording.")
    if end is not None and end < start:
        raise UnsatisfiableRange("The range ends before it starts.")
    return start, min(end, size - 1) if end is not None else size - 1
