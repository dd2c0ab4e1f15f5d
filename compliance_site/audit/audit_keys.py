"""The access log's HMAC keys: random 32-byte keys wrapped by the master key (local keyring or
KMS), one per master-key version, named by a short label recorded on each event and digest.

A database writer sees only the wrapped key: without the keyring (or KMS) he cannot compute the
HMAC of an event he rewrites or forges. Rotation re-wraps the older audit keys under the new
master-key version, so destroying a retired version keeps every event verifiable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from compliance_site.audit.models import AuditKey
from compliance_site.keys import get_provider

AUDIT_KEY_BYTES = 32

_unwrapped: dict[tuple[str, bytes], bytes] = {}
_unwrapped_lock = threading.Lock()

# The newest key as this thread's current transaction read it: (its on-commit marker, label,
# key). Per thread, as Django's connections are.
_current = threading.local()


class AuditKeyUnknownError(LookupError):
    """No audit key of that label is held: what it signed cannot be verified (or was forged)."""


class AuditKeyUnopenableError(AuditKeyUnknownError):
    """The audit key is held but the master key cannot unwrap it: the keyring (or KMS key) it was
    wrapped under is lost, destroyed, or not the one this installation uses."""


def _aad(label: str) -> bytes:
    return f"custos/audit-key/{label}".encode()


def _unwrap(row: AuditKey) -> bytes:
    wrapped = bytes(row.wrapped_key)
    # Cached by label and blob: a re-wrapped or replaced row is unwrapped afresh.
    cache_key = (row.label, wrapped)
    with _unwrapped_lock:
        key = _unwrapped.get(cache_key)
    if key is None:
        key = get_provider().unwrap(row.master_version, wrapped, associated_data=_aad(row.label))
        with _unwrapped_lock:
            _unwrapped[cache_key] = key
    return key


def audit_key(label: str) -> bytes:
    """The key of ``label``; ``AuditKeyUnknownError`` if none is held or it does not unwrap."""
    row = AuditKey.objects.filter(label=label).first()
    if row is None:
        raise AuditKeyUnknownError(f"No audit key {label!r} is held.")
    try:
        return _unwrap(row)
    except Exception as exc:  # a KeyProviderError, or a row an intruder wrote: not a key of ours
        raise AuditKeyUnopenableError(
            f"The audit key {label!r} does not unwrap ({type(exc).__name__})."
        ) from None


def audit_key_lookup() -> Callable[[str], bytes | None]:
    """A look-up by label for one walk of the chain: each label's key read once, where the walk
    asked for it per event (a statement per event); None for a label no key is held for."""
    found: dict[str, bytes | None] = {}

    def lookup(label: str) -> bytes | None:
        if label not in found:
            try:
                found[label] = audit_key(label)
            except AuditKeyUnknownError:
                found[label] = None
        return found[label]

    return lookup


def audit_key_current() -> tuple[str, bytes]:
    """(label, key) of the newest audit key, made (under the current master-key version) if
    there is none yet. Callers hold the chain's head lock, so two never make one at once.

    Read once per transaction: a sweep appends to the chain once per batch and per subject, and a
    look-up each time was a statement per append. Safe because the head lock, taken before the
    first read, is held to the commit: no other process can make a newer key meanwhile (keys are
    made under that lock), and this one drops the cached key when it makes one itself. A marker
    registered with ``on_commit`` ties the cached key to its transaction: Django discards it on a
    rollback (of the savepoint that read the key, or of everything), and it runs on the commit,
    so a later transaction always reads afresh (and sees another process's rotation)."""
    connection = transaction.get_connection()
    held = getattr(_current, "held", None)
    if held is not None and connection.in_atomic_block:
        marker, label, key = held
        if any(callback is marker for _sids, callback, _robust in connection.run_on_commit):
            return label, key
    row = AuditKey.objects.order_by("-id").first()
    if row is None:
        row = _audit_key_new()
    label, key = row.label, _unwrap(row)
    if connection.in_atomic_block:
        forget = _current_forgetter()
        transaction.on_commit(forget)
        _current.held = (forget, label, key)
    return label, key


def _current_forgetter() -> Callable[[], None]:
    def forget() -> None:
        if getattr(_current, "held", (None,))[0] is forget:
            _current.held = None

    return forget


def _audit_key_new() -> AuditKey:
    # The next number after every label ever seen here, so a label is never reused.
    numbers = [
        int(label[1:]) for label in AuditKey.objects.values_list("label", flat=True) if label[1:].isdigit()
    ]
    label = f"a{max(numbers, default=0) + 1}"
    _current.held = None  # no longer the newest
    version, wrapped = get_provider().wrap(os.urandom(AUDIT_KEY_BYTES), associated_data=_aad(label))
    return AuditKey.objects.create(
        label=label, master_version=version, wrapped_key=wrapped, created_at=timezone.now()
    )


def audit_keys_rotate() -> int:
    """Part of a master-key rotation: a new audit key under the current version (unless the
    newest already is), and every older one re-wrapped under it. Returns how many were re-wrapped."""
    from compliance_site.audit.models import AuditChainHead

    current = get_provider().current_version()
    with transaction.atomic():
        # The head lock: no append picks the newest key while it changes.
        AuditChainHead.objects.select_for_update().filter(id=1).first()
        newest = AuditKey.objects.order_by("-id").first()
        if newest is None or newest.master_version != current:
            _audit_key_new()
        rewrapped = 0
        for row in AuditKey.objects.exclude(master_version=current).select_for_update():
            key = _unwrap(row)
            row.master_version, row.wrapped_key = get_provider().wrap(key, associated_data=_aad(row.label))
            row.save(update_fields=["master_version", "wrapped_key"])
            rewrapped += 1
    return rewrapped


def audit_keys_stale_count() -> int:
    return AuditKey.objects.exclude(master_version=get_provider().current_version()).count()


def audit_keys_unopenable() -> dict[str, str]:
    """The audit keys held that the master key cannot unwrap, by label, each with why (the
    provider's error, which names versions and never a key). Left by a lost keyring, or by a
    database restored beside another one: what they signed can no longer be verified, and when
    the newest is one of them no event can be written (``audit_key_current``)."""
    unopenable: dict[str, str] = {}
    for row in AuditKey.objects.order_by("id"):
        try:
            _unwrap(row)
        except Exception as exc:  # a KeyProviderError, or a row that is no wrapped key at all
            unopenable[row.label] = f"{type(exc).__name__}: {exc}"
    return unopenable


def audit_key_newest_label() -> str | None:
    """The label the next event will be signed with, or None before the first event."""
    return AuditKey.objects.order_by("-id").values_list("label", flat=True).first()
