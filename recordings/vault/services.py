"""Write use-cases of the vault: crypto-shredding (destroying a recording's or a subject's key) and
re-wrapping subject keys under the master key's current version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record, access_events_record
from compliance_site.keys import get_provider
from compliance_site.model_update import model_update
from recordings.models import (
    AtRestRedaction,
    DataSubject,
    RecordingKey,
    SubjectKey,
)
from recordings.vault.dead_rows import dead_rows_vacuum_after_commit
from recordings.vault.keys import (
    subject_key_aad,
    subject_key_unwrap,
)


class RecordingIdentity(Protocol):
    """A recording as its key's destruction names it: a Recording, or the sweep's lighter rows."""

    @property
    def pk(self) -> int: ...
    @property
    def reference(self) -> str: ...


@transaction.atomic
def recording_keys_destroy(
    *, recordings: Sequence[RecordingIdentity], actor=None, reasons: dict[int, str]
) -> int:
    """Crypto-shred recordings in one go (the retention sweep's batches): lock their live keys,
    empty them in one UPDATE and chain one ``key_destroyed`` event per key, each with its reason
    (``reasons`` maps a recording's id to it). Returns how many keys were destroyed."""
    by_id = {recording.pk: recording for recording in recordings}
    live = list(
        RecordingKey.objects.select_for_update()
        .filter(recording_id__any_of=list(by_id), destroyed_at__isnull=True)
        .order_by("recording_id")
        .values_list("pk", "recording_id")
    )
    if not live:
        return 0
    RecordingKey.objects.filter(pk__any_of=[pk for pk, _ in live]).update(
        wrapped_key=b"", destroyed_at=timezone.now()
    )
    # The keys a redaction at rest holds apart (the new one in flight, the unredacted version's)
    # go with the recording's: a rewrite in flight is cancelled, its blob left for beat.
    erased = [recording_id for _, recording_id in live]
    in_flight = AtRestRedaction.objects.select_for_update().filter(
        recording_id__any_of=erased, status=AtRestRedaction.Status.RUNNING
    )
    for redaction in in_flight:  # rare: a rewrite running as its recording is erased
        redaction.status, redaction.target_wrapped_key = AtRestRedaction.Status.CANCELLED, b""
        redaction.error, redaction.discarded_refs = (
            "the recording was erased",
            [
                *redaction.discarded_refs,
                redaction.target_ref,
            ],
        )
        redaction.save(update_fields=["status", "target_wrapped_key", "error", "discarded_refs"])
    AtRestRedaction.objects.filter(recording_id__any_of=erased).exclude(previous_wrapped_key=b"").update(
        previous_wrapped_key=b""
    )
    dead_rows_vacuum_after_commit()
    access_events_record(
        [
            {
                "action": AccessAction.KEY_DESTROYED,
                "object_type": "recording",
                "object_id": recording_id,
                "object_reference": by_id[recording_id].reference,
                "actor": actor,
                "detail": {"reason": reasons[recording_id]},
            }
            for _, recording_id in live
        ]
    )
    return len(live)


@transaction.atomic
def subject_key_destroy(*, subject: DataSubject, actor=None, reason: str) -> SubjectKey:
    """Crypto-shred a subject: personal fields (history rows included) and every recording of
    theirs become unreadable, because every one of those keys hangs off this one."""
    row = SubjectKey.objects.select_for_update().get(subject=subject)
    if row.destroyed_at is None:
        row.wrapped_key, row.master_version, row.destroyed_at = b"", "", timezone.now()
        row.save(update_fields=["wrapped_key", "master_version", "destroyed_at"])
        # The old row version, wrapped key and all, stays in the pages until vacuumed.
        dead_rows_vacuum_after_commit()
        access_event_record(
            action=AccessAction.KEY_DESTROYED,
            object_type="subject",
            object_id=subject.pk,
            object_reference=subject.reference,
            actor=actor,
            detail={"reason": reason},
        )
    return row


@transaction.atomic
def subject_personal_data_shred(*, subject: DataSubject, actor=None, reason: str) -> None:
    """Erase a subject's name, phone and email for good: the subject key is destroyed (every
    ciphertext of theirs, history rows and backups included, becomes unreadable), then the
    ciphertext and the blind indexes are dropped from the row and from its history rows, so no
    copy of the pseudonymous lookup values stays either."""
    subject_key_destroy(subject=subject, actor=actor, reason=reason)
    blank: dict[str, Any] = {
        "full_name_encrypted": b"",
        "phone_encrypted": b"",
        "email_encrypted": b"",
        "phone_index": "",
        "email_index": "",
    }
    model_update(subject, actor=actor, **blank)
    # History rows are records of the past, not historied models: a bulk update is right here.
    subject.history.update(**blank)


def subject_keys_rewrap_batch(*, batch_size: int = 500) -> int:
    """Re-wrap up to ``batch_size`` subject keys not yet under the current master-key version.

    One transaction per batch, rows locked with skip_locked so two runs share the work; the
    audio and the recording keys are untouched (they hang off the subject key, which does not
    change). Returns how many keys were re-wrapped; 0 means the rotation is complete.
    """
    provider = get_provider()
    current = provider.current_version()
    with transaction.atomic():
        rows = list(
            SubjectKey.objects.filter(destroyed_at__isnull=True)
            .exclude(master_version=current)
            .select_related("subject")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")[:batch_size]
        )
        now = timezone.now()
        for row in rows:
            key = subject_key_unwrap(row, row.subject)
            row.master_version, row.wrapped_key = provider.wrap(
                key, associated_data=subject_key_aad(row.subject)
            )
            row.rewrapped_at = now
        SubjectKey.objects.bulk_update(rows, ["master_version", "wrapped_key", "rewrapped_at"])
    return len(rows)


def subject_keys_stale_count() -> int:
    """Live subject keys still wrapped by an older master-key version."""
    current = get_provider().current_version()
    return SubjectKey.objects.filter(destroyed_at__isnull=True).exclude(master_version=current).count()
