"""The access log: append hash-chained events, and verify the chain.

Every access to personal data (list, view, play with its byte ranges, download, export, share,
decrypt) and every legally significant act is one event. Events hold ids and pseudonyms only.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from compliance_site.audit_chain import GENESIS_HASH, ChainBreak, ChainedEvent, event_hash, first_break
from recordings.models import AccessEvent, AuditChainHead

SYSTEM = "system"


def _fields(event: AccessEvent) -> dict[str, Any]:
    """What an event's hash covers: everything but its own hash."""
    return {
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_reference": event.object_reference,
        "purpose": event.purpose,
        "detail": event.detail,
        "client_ip": event.client_ip,
    }


def access_event_record(
    *,
    action: str,
    object_type: str,
    object_id: int | None = None,
    object_reference: str = "",
    actor=None,
    actor_label: str = "",
    purpose: str = "",
    detail: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> AccessEvent:
    """Append one event to the chain, in the caller's transaction."""
    with transaction.atomic():
        # The head row is the chain's lock: appends are serial, so each links to the one before.
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(
            id=1, defaults={"last_hash": GENESIS_HASH}
        )
        event = AccessEvent(
            sequence=head.sequence + 1,
            occurred_at=timezone.now(),
            actor=actor if actor is not None and actor.is_authenticated else None,
            actor_label=actor_label or (actor.get_username() if actor is not None else SYSTEM),
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_reference=object_reference,
            purpose=purpose,
            detail=detail or {},
            client_ip=client_ip,
            prev_hash=head.last_hash,
        )
        event.hash = event_hash(event.prev_hash, _fields(event))
        event.save()
        head.sequence, head.last_hash = event.sequence, event.hash
        head.save(update_fields=["sequence", "last_hash"])
    return event


def access_log_first_break() -> ChainBreak | None:
    """Walk the whole chain in order; the first broken link, or None when it is whole."""
    head = AuditChainHead.objects.filter(id=1).first()
    events = (
        ChainedEvent(e.pk, e.sequence, e.prev_hash, e.hash, _fields(e))
        for e in AccessEvent.objects.order_by("sequence").iterator(chunk_size=2000)
    )
    return first_break(events, head.sequence if head else 0, head.last_hash if head else GENESIS_HASH)
