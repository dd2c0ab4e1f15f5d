"""Hash-chain arithmetic of the access log: what an event's hash covers, and how a chain checks.

Kept free of models so that the rule is one function, used by the writer and the verifier alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def event_hash(prev_hash: str, fields: Mapping[str, Any], key: bytes | None = None) -> str:
    """HMAC-SHA-256 under the audit ``key`` over the previous hash and a canonical JSON of the
    event's fields; plain SHA-256 without a key (the events before the switch-over)."""
    message = f"{prev_hash}\n{canonical_json(fields)}".encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


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
    key_version: str = ""


# The key of a label, or None when no such key is held.
KeyLookup = Callable[[str], "bytes | None"]


def first_break(
    events: Iterable[ChainedEvent],
    head_sequence: int | None,
    head_hash: str,
    *,
    key_for: KeyLookup,
    keyed_from: int,
    start: tuple[int, str] = (1, GENESIS_HASH),
    unopenable: Collection[str] = frozenset(),
) -> ChainBreak | None:
    """The first broken link of a chain given in sequence order, or None if it is whole.

    Events from ``keyed_from`` on must carry an HMAC under a key ``key_for`` knows; the ones
    before keep plain hashes. ``start`` is the (sequence, previous hash) the walk begins at, for
    checking a stretch of the chain; ``head_sequence`` None skips the comparison with the head.
    ``unopenable`` names the audit keys held that the keyring cannot unwrap: an event signed with
    one cannot be verified, and the break says a lost keyring may be why.
    """
    expected_sequence, expected_prev = start
    keyed_seen = False
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
        key = None
        if event.key_version:
            keyed_seen = True
            key = key_for(event.key_version)
            if key is None and event.key_version in unopenable:
                return ChainBreak(
                    event.sequence,
                    event.event_id,
                    f"it is signed with an audit key Custos does not hold ({event.key_version!r}) in a "
                    "form its keyring unwraps: forged, or wrapped under a keyring that is lost or not "
                    "this one; it cannot be verified",
                )
            if key is None:
                return ChainBreak(
                    event.sequence,
                    event.event_id,
                    f"it is signed with an audit key Custos does not hold ({event.key_version!r}): forged",
                )
        elif keyed_seen or event.sequence >= keyed_from:
            return ChainBreak(
                event.sequence,
                event.event_id,
                "its hash is not keyed though it comes after the switch-over to keyed hashes "
                "(rewritten without the audit key)",
            )
        if event_hash(event.prev_hash, event.fields, key) != event.stored_hash:
            return ChainBreak(event.sequence, event.event_id, "its content does not match its hash (edited)")
        expected_prev, expected_sequence = event.stored_hash, expected_sequence + 1
    if head_sequence is None:
        return None
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
