"""The fingerprint of what a muted rendition was made from: its segments and its source blob."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal


def rendition_fingerprint(segments: Iterable[tuple[Decimal, Decimal]], *, storage_ref: str) -> str:
    """SHA-256 of the sorted (start, end) seconds, to the millisecond, and the source blob's name:
    a segment added, moved or removed, or the audio replaced, gives another fingerprint."""
    bounds = sorted(
        (Decimal(start).quantize(Decimal("0.001")), Decimal(end).quantize(Decimal("0.001")))
        for start, end in segments
    )
    text = ";".join(f"{start}-{end}" for start, end in bounds)
    return hashlib.sha256(f"{storage_ref}|{text}".encode()).hexdigest()
