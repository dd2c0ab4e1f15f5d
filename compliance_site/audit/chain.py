"""Hash-chain arithmetic of the access log: what an event's hash covers, and how a chain checks.

Kept free of models so that the rule is one function, used by the writer and the verifier alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the event's fields."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"event #{self.sequence}" + (f" (id {self.event_id})" if self.event_id is not None else "")
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class ChainedEvent:
    event_id: int
    sequence: int
    prev_hash: str
    stored_hash: str
    fields: Mapping[str, Any]


def first_break(events: Iterable[ChainedEvent], head_sequence: int, head_hash: str) -> ChainBreak | None:
    """The first broken link of a chain given in sequence order, or None if it is whole."""
    expected_prev, expected_sequence = GENESIS_HASH, 1
    for event in events:
        if event.sequence != expected_sequence:
            return ChainBreak(
                expected_sequence,
                None,
                f"missing: the next event stored is #{event.sequence} (an event was deleted)",
            )
        if event.prev_hash != expected_prev:
            return ChainBreak(
                event.sequence,
                event.event_id,
                "its link to the previous event does not match (an event before it was changed, "
                "inserted or deleted)",
            )
        if event_hash(event.prev_hash, event.fields) != event.stored_hash:
            return ChainBreak(event.sequence, event.event_id, "its content does not match its hash (edited)")
        expected_prev, expected_sequence = event.stored_hash, expected_sequence + 1
    if expected_sequence - 1 != head_sequence or expected_prev != (
        head_hash if head_sequence else GENESIS_HASH
    ):
        return ChainBreak(
            expected_sequence,
            None,
            f"the chain ends at #{expected_sequence - 1} but its head records #{head_sequence} "
            "(the last events were deleted or the head was changed)",
        )
    return None
