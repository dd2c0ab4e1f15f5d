"""Write use-cases of recordings: subjects, ingest, crypto-shredding."""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from recordings.intake.audio_format import detect_audio
from recordings.models import (
    Consent,
    DataSubject,
    Objection,
    Purpose,
    Recording,
    SensitiveSegment,
)
from recordings.redaction.transcripts import transcript_store
from recordings.selectors import subject_matching
from recordings.vault.keys import (
    KeyDestroyedError,
    PersonalData,
    personal_data_read,
    personal_data_seal,
    recording_key_new,
    subject_key,
    subject_key_new,
)
from recordings.vault.storage import audio_blob_name, audio_delete, audio_store

logger = logging.getLogger(__name__)

# Sent inside the ingest transaction; retention answers it with the recording's keep-until.
recording_ingested = Signal()
# Sent with ``recordings``: the purposes these recordings may serve changed (a consent withdrawn,
# an objection upheld), so their retention must be computed again.
recording_grounds_changed = Signal()


def _new_subject_reference() -> str:
    return f"DS-{secrets.token_hex(5).upper()}"


def _new_recording_reference() -> str:
    return f"REC-{timezone.now():%Y%m%d}-{secrets.token_hex(4).upper()}"


@transaction.atomic
def subject_create(*, personal: PersonalData, reference: str = "") -> tuple[DataSubject, bytes]:
    """A new subject with its own key and its personal fields sealed under it."""
    personal = personal.normalised()
    subject = DataSubject(reference=reference or _new_subject_reference())
    key, key_row = subject_key_new(subject)
    personal_data_seal(subject, personal, key)
    subject.full_clean(exclude=["full_name_encrypted", "phone_encrypted", "email_encrypted"])
    subject.save()
    key_row.subject = subject
    key_row.save()
    return subject, key


def subject_share_lock(subject: DataSubject) -> None:
    """Hold the subject's row in share mode until this transaction ends. Other calls of the same
    caller take it too and go on; an erasure, which locks the subject for update first thing,
    waits for them, and a call arriving during an erasure waits for it. Django's
    ``select_for_update`` has no share mode. SQLite (the demo) has no row locks: there the erasure
    and a call of its subject are not ordered."""
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(DataSubject._meta.db_table)
    with connection.cursor() as cursor:
        # The table's name is the model's own, quoted; the id is a parameter.
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR SHARE", [subject.pk])  # noqa: S608


def _subject_for_call(identifiers: dict[str, Any]) -> tuple[DataSubject, bytes]:
    """The caller's subject, found by reference or blind index, else created.

    A subject found is share-locked for the rest of the ingest and its key read after the lock,
    so that an erasure either waits for this call (and then erases its recording with the
    others) or this call waits for the erasure (and then finds the key destroyed). Without the
    lock, a call stored while its caller was being erased would outlive the erasure."""
    personal: PersonalData = identifiers["personal"]
    existing = subject_matching(
        reference=identifiers.get("reference", ""), phone=personal.phone, email=personal.email
    ).first()
    if existing is not None:
        subject_share_lock(existing)
        try:
            return existing, subject_key(existing)
        except KeyDestroyedError as exc:
            raise ValidationError(
                {"subject": f"Subject {existing.reference} was erased; a new call needs a new subject."}
            ) from exc
    return subject_create(personal=personal, reference=identifiers.get("reference", ""))


def _sha256(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for block in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(block)
    file.seek(0)
    return digest.hexdigest()


def recording_ingest(
    *, audio: BinaryIO, metadata: dict[str, Any], actor=None, actor_label: str = ""
) -> Recording:
    """Store one call: the audio encrypted under a new recording key, the row, its purposes, its
    consent evidence and its transcript (sealed, if the metadata has one), all or nothing.

    ``metadata`` is ``RecordingMetadataSerializer.validated_data``. The audio is checked before
    anything is written; if any later step fails, the transaction rolls back and the blob (if it
    was written) is deleted, so a failed ingest leaves no row and no blob behind.
    """
    info = detect_audio(audio, max_bytes=settings.RECORDING_MAX_BYTES)
    checksum = _sha256(audio)
    name = audio_blob_name(info.extension)
    written = [name]  # what to remove if the ingest fails (the storage may pick another name)
    try:
        with transaction.atomic():
            subject, subject_key_bytes = _subject_for_call(metadata["subject"])
            recording = Recording(
                reference=metadata.get("reference") or _new_recording_reference(),
                subject=subject,
                agent=metadata.get("agent"),
                queue=metadata["queue"],
                direction=metadata["direction"],
                started_at=metadata["started_at"],
                ended_at=metadata["ended_at"],
                lawful_basis=metadata["lawful_basis"],
                legitimate_interest_assessment=metadata.get("legitimate_interest_assessment"),
                storage_ref=name,
                size_bytes=info.size_bytes,
                content_type=info.content_type,
                checksum_sha256=checksum,
            )
            if actor is not None and actor.is_authenticated:
                recording._history_user = actor  # the admin middleware is not there for the API
            recording.save()
            recording.purposes.set(metadata["purposes"])
            bulk_create_with_history(
                [
                    Consent(subject=subject, recording=recording, **evidence)
                    for evidence in metadata.get("consents", [])
                ],
                Consent,
                default_user=actor if actor is not None and actor.is_authenticated else None,
            )
            # The telephony system's sensitive segments (pauses, secure-IVR markers): muted for
            # reviewers from the first playback on.
            bulk_create_with_history(
                [
                    SensitiveSegment(recording=recording, source=SensitiveSegment.Source.TELEPHONY, **segment)
                    for segment in metadata.get("sensitive_segments", [])
                ],
                SensitiveSegment,
                default_user=actor if actor is not None and actor.is_authenticated else None,
            )
            key, key_row = recording_key_new(recording, subject_key_bytes)
            key_row.save()
            stored = audio_store(plaintext=audio, key=key, recording_id=recording.pk, name=name)
            if stored.name != name:
                written.append(stored.name)
            if stored.name != name or stored.plaintext_bytes != info.size_bytes:
                raise ValidationError("The audio changed while it was being stored; try again.")
            recording_ingested.send(sender=Recording, recording=recording)
            # After anything that marks sensitive segments: the payment flag looks at them.
            transcript = metadata.get("transcript")
            if transcript:
                transcript_store(
                    recording,
                    transcript["text"],
                    language=transcript.get("language", ""),
                    source=transcript.get("source", ""),
                    actor=actor,
                    key=key,
                )
            access_event_record(
                action=AccessAction.INGEST,
                object_type="recording",
                object_id=recording.pk,
                object_reference=recording.reference,
                actor=actor,
                actor_label=actor_label,
                detail={
                    "subject": subject.reference,
                    "bytes": info.size_bytes,
                    "format": info.extension,
                    "transcript": bool(transcript),
                },
            )
    except BaseException:
        for blob in written:
            audio_delete(blob)
        raise
    logger.info("Ingested recording %s (%d bytes)", recording.reference, info.size_bytes)
    return recording


def _grounds_changed(subject_id: int, purpose_id: int) -> None:
    recordings = list(Recording.objects.filter(subject_id=subject_id, purposes=purpose_id))
    if recordings:
        recording_grounds_changed.send(sender=Recording, recordings=recordings)


@transaction.atomic
def consent_withdraw(
    *, consent: Consent, via: str, actor=None, at=None, client_ip: str | None = None
) -> Consent:
    """Record a withdrawal (Art. 7(3)): the consent stays, with when, through which channel and
    who recorded it. Recordings for which it was the only ground leave every QA lead's list and
    player at once (the access selectors read the ledger), and their retention is recomputed.
    The withdrawal is an access event too: it brings retention forward, so whoever recorded it
    (a DPO, an integration's account) is in the chained log, not only in history."""
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.decision != Consent.Decision.GIVEN:
        raise ValidationError("A refusal cannot be withdrawn; record a new consent instead.")
    if consent.withdrawn_at is not None:
        raise ValidationError(f"This consent was already withdrawn on {consent.withdrawn_at:%Y-%m-%d %H:%M}.")
    if via not in Consent.Channel.values:
        raise ValidationError({"via": f"Unknown channel {via!r}."})
    at = at or timezone.now()
    if at < consent.captured_at:
        raise ValidationError({"withdrawn_at": "A consent cannot be withdrawn before it was given."})
    consent.withdrawn_at, consent.withdrawn_via = at, via
    consent.withdrawn_by = actor if actor is not None and actor.is_authenticated else None
    if consent.withdrawn_by is not None:
        consent._history_user = actor
    consent.save(update_fields=["withdrawn_at", "withdrawn_via", "withdrawn_by"])
    _grounds_changed(consent.subject_id, consent.purpose_id)
    access_event_record(
        action=AccessAction.CONSENT_WITHDRAWN,
        object_type="subject",
        object_id=consent.subject_id,
        object_reference=consent.subject.reference,
        actor=actor,
        purpose=consent.purpose.code,
        detail={"consent": consent.pk, "channel": via, "recording": consent.recording_id},
        client_ip=client_ip,
    )
    logger.info("Consent %s withdrawn via %s", consent.pk, via)
    return consent


def consents_withdraw_for(
    *, subject: DataSubject, purpose: Purpose, via: str, actor=None, client_ip: str | None = None
) -> list[Consent]:
    """Withdraw every active consent of the subject for the purpose (the caller said "stop")."""
    with transaction.atomic():
        active = Consent.objects.filter(
            subject=subject, purpose=purpose, decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
        ).order_by("pk")
        return [
            consent_withdraw(consent=consent, via=via, actor=actor, client_ip=client_ip) for consent in active
        ]


@transaction.atomic
def objection_decide(*, objection: Objection, decision: str, actor, reason: str) -> Objection:
    """Uphold or overrule an objection (Art. 21(1)); an upheld one stops the purpose at once."""
    objection = Objection.objects.select_for_update().get(pk=objection.pk)
    if objection.decision != Objection.Decision.PENDING:
        raise ValidationError(f"This objection was already decided: {objection.get_decision_display()}.")
    if decision not in (Objection.Decision.UPHELD, Objection.Decision.OVERRULED):
        raise ValidationError({"decision": "Uphold or overrule."})
    if decision == Objection.Decision.OVERRULED and not reason.strip():
        raise ValidationError({"reason": "Overruling needs the compelling legitimate grounds."})
    objection.decision, objection.reason = decision, reason
    objection.decided_at, objection.decided_by = timezone.now(), actor
    objection._history_user = actor
    objection.save()
    if decision == Objection.Decision.UPHELD:
        _grounds_changed(objection.subject_id, objection.purpose_id)
    return objection


@transaction.atomic
def subject_personal_data_rectify(*, subject: DataSubject, personal: PersonalData, actor=None) -> list[str]:
    """Correct the subject's personal fields (Art. 16); returns the names of those changed.

    Empty fields of ``personal`` keep the value on file. The new values are sealed under the
    subject key like the old ones, so history keeps only ciphertext of both.
    """
    subject = DataSubject.objects.select_for_update().get(pk=subject.pk)
    current = personal_data_read(subject)
    corrected = personal.normalised()
    merged = PersonalData(
        full_name=corrected.full_name or current.full_name,
        phone=corrected.phone or current.phone,
        email=corrected.email or current.email,
    )
    changed = [
        name for name in ("full_name", "phone", "email") if getattr(merged, name) != getattr(current, name)
    ]
    if changed:
        personal_data_seal(subject, merged, subject_key(subject))
        if actor is not None:
            subject._history_user = actor
        subject.save()
    return changed
