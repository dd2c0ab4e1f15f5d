"""Signed digests of the access log, one per period, written outside the database.

In the manner of CloudTrail's log-file validation: every period (``CUSTOS_AUDIT_DIGEST_MINUTES``,
hourly by default; an empty period gets one too) beat writes a JSON digest to the recordings
storage under ``audit-digests/`` naming the period, the first and last event of the chain
appended since the previous digest (id, sequence, hash), their count, the switch-over to keyed
hashes and the previous digest's hash, HMAC-signed under the audit key. On S3 that prefix sits
under Object Lock in compliance mode (docs/SECURITY.md), so nobody, Custos included, can
rewrite or delete a digest; the database never holds one.

A digest covers a contiguous stretch of sequences, not a stretch of ``occurred_at``: events
are numbered under the chain's head lock and committed in that order, so "every event appended
before the period ended and not in an earlier digest" has no gap and no overlap.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from compliance_site.audit.audit_keys import audit_key_current, audit_key_lookup
from compliance_site.audit.chain import GENESIS_HASH, ChainedEvent, canonical_json, first_break
from compliance_site.audit.models import AccessEvent, AuditChainHead
from compliance_site.audit.services import event_fields

PREFIX = "audit-digests"
FORMAT = 1
_SIGNING_CONTEXT = b"custos-audit-digest\n"


class DigestRefusedError(Exception):
    """The stretch of chain a digest would sign is broken: Custos signs no tampered log."""


def period() -> datetime.timedelta:
    return datetime.timedelta(minutes=settings.CUSTOS_AUDIT_DIGEST_MINUTES)


def period_floor(moment: datetime.datetime) -> datetime.datetime:
    """The start of the period ``moment`` falls in (periods are aligned on the Unix epoch, UTC)."""
    seconds = int(period().total_seconds())
    epoch = int(moment.timestamp())
    return datetime.datetime.fromtimestamp(epoch - epoch % seconds, tz=datetime.UTC)


def digest_name(period_start: datetime.datetime) -> str:
    return f"{PREFIX}/{period_start:%Y-%m}/{period_start:%Y%m%dT%H%M%SZ}.json"


def digest_sign(key: bytes, body: dict[str, Any]) -> str:
    return hmac.new(key, _SIGNING_CONTEXT + canonical_json(body).encode(), hashlib.sha256).hexdigest()


def digest_hash(document: dict[str, Any]) -> str:
    """What the next digest names as its previous one: SHA-256 of the whole signed document."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


@dataclass(frozen=True)
class StoredDigest:
    name: str
    document: dict[str, Any]

    @property
    def body(self) -> dict[str, Any]:
        return {k: v for k, v in self.document.items() if k != "signature"}

    @property
    def period_start(self) -> str:
        return self.document["period_start"]

    @property
    def last_sequence(self) -> int:
        """The last sequence this digest or an earlier one covers."""
        return int(self.document["covered_through"])


def _storage():
    # The recordings storage by its STORAGES alias: the access log sits below every app.
    return storages["recordings"]


def digest_names() -> list[str]:
    """Every digest in the storage, oldest first (names sort by period)."""
    storage = _storage()
    # No exists() first: on S3 a prefix is not an object, and exists() would say it is missing.
    try:
        months, _ = storage.listdir(PREFIX)
    except FileNotFoundError:
        return []
    names = []
    for month in months:
        _, files = storage.listdir(f"{PREFIX}/{month}")
        names += [f"{PREFIX}/{month}/{name}" for name in files if name.endswith(".json")]
    return sorted(names)


def digest_read(name: str) -> StoredDigest:
    with _storage().open(name, "rb") as fh:
        return StoredDigest(name, json.loads(fh.read()))


def digests_all() -> list[StoredDigest]:
    return [digest_read(name) for name in digest_names()]


def _event_ref(event: AccessEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"id": event.pk, "sequence": event.sequence, "hash": event.hash}


def _stretch_check(after: int, prev_hash: str, through: int, keyed_from: int) -> None:
    rows = cast(
        Generator[AccessEvent],
        AccessEvent.objects.filter(sequence__gt=after, sequence__lte=through)
        .order_by("sequence")
        .iterator(chunk_size=2000),
    )
    events = (
        ChainedEvent(e.pk, e.sequence, e.prev_hash, e.hash, event_fields(e), e.key_version) for e in rows
    )
    try:
        broken = first_break(
            events, None, "", key_for=audit_key_lookup(), keyed_from=keyed_from, start=(after + 1, prev_hash)
        )
    finally:
        rows.close()  # the server-side cursor of a walk stopped at a break
    if broken is not None:
        raise DigestRefusedError(f"The access log is broken at {broken}; no digest was signed.")
    found = AccessEvent.objects.filter(sequence__gt=after, sequence__lte=through).count()
    if found != through - after:
        raise DigestRefusedError(
            f"The access log holds {found} of events #{after + 1}-#{through}; no digest was signed."
        )


def digest_write_next(*, now: datetime.datetime | None = None) -> StoredDigest | None:
    """Write the digest of the next period that has ended, if any; the digest written, or None.
    ``DigestRefusedError`` when the events it would cover do not verify."""
    now = now or timezone.now()
    names = digest_names()
    previous = digest_read(names[-1]) if names else None
    if previous is not None:
        start = datetime.datetime.fromisoformat(previous.document["period_end"])
    else:
        start = period_floor(now) - period()
    end = start + period()
    if end > now:
        return None
    after = previous.last_sequence if previous else 0
    prev_event_hash = (
        AccessEvent.objects.filter(sequence=after).values_list("hash", flat=True).first()
        if after
        else GENESIS_HASH
    ) or ""
    through = (
        AccessEvent.objects.filter(occurred_at__lt=end)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
        or 0
    )
    through = max(through, after)
    head = AuditChainHead.objects.filter(id=1).first()
    keyed_from = head.keyed_from if head else 1
    _stretch_check(after, prev_event_hash, through, keyed_from)
    span = AccessEvent.objects.filter(sequence__gt=after, sequence__lte=through)
    with transaction.atomic():
        # The head lock: one writer per period, and the newest audit key is stable meanwhile.
        AuditChainHead.objects.select_for_update().filter(id=1).first()
        name = digest_name(start)
        if _storage().exists(name):
            return None  # another worker wrote it first
        label, key = audit_key_current()
        body = {
            "format": FORMAT,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "first_event": _event_ref(span.order_by("sequence").first()),
            "last_event": _event_ref(span.order_by("-sequence").first()),
            "count": through - after,
            "covered_through": through,
            "keyed_from": keyed_from,
            "previous_digest_hash": digest_hash(previous.document) if previous else GENESIS_HASH,
            "key_version": label,
            "written_at": timezone.now().isoformat(),
        }
        document = {**body, "signature": digest_sign(key, body)}
        _storage().save(name, ContentFile(canonical_json(document).encode()))
    return StoredDigest(name, document)


def digests_write_due(*, now: datetime.datetime | None = None) -> list[StoredDigest]:
    """Every digest due (one per ended period since the last, empty periods included)."""
    written = []
    while (digest := digest_write_next(now=now)) is not None:
        written.append(digest)
    return written
