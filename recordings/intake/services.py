"""The ingest: one call in, stored whole (row, consents, segments, transcript, key, encrypted blob,
access event) or not at all. Used by the API, the admin upload, the import command and the demo
seed; the subject it belongs to is found or created through ``recordings.services``."""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save
from recordings.intake.audio_format import detect_audio
from recordings.models import (
    Consent,
    DataSubject,
    Recording,
    SensitiveSegment,
)
from recordings.redaction.transcripts import transcript_store
from recordings.redaction_at_rest import redaction_at_rest_request
from recordings.renditions import muted_rendition_request
from recordings.restrictions import restriction_attach
from recordings.selectors import restriction_in_force, subject_matching
from recordings.services import recording_ingested, subject_create, subject_share_lock
from recordings.vault.keys import (
    KeyDestroyedError,
    PersonalData,
    recording_key_new,
    subject_key,
)
from recordings.vault.storage import audio_blob_name, audio_delete, audio_store

logger = logging.getLogger(__name__)


def _new_recording_reference() -> str:
    return f"REC-{timezone.now():%Y%m%d}-{secrets.token_hex(4).upper()}"


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

    A call of a subject whose processing is restricted (Art. 18) is stored restricted and joins
    the restriction. ``metadata`` is ``RecordingMetadataSerializer.validated_data``. The audio is
    checked before anything is written; if any later step fails, the transaction rolls back and
    the blob (if it was written) is deleted, so a failed ingest leaves no row and no blob behind.
    """
    info = detect_audio(audio, max_bytes=settings.RECORDING_MAX_BYTES)
    checksum = _sha256(audio)
    name = audio_blob_name(info.extension)
    written = [name]  # what to remove if the ingest fails (the storage may pick another name)
    try:
        with transaction.atomic():
            subject, subject_key_bytes = _subject_for_call(metadata["subject"])
            # Read after the subject's lock: a restriction placed meanwhile is seen (Art. 18: the
            # call of a restricted subject is stored only, never used, from its first moment).
            restriction = restriction_in_force(subject)
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
                status=Recording.Status.RESTRICTED if restriction else Recording.Status.ACTIVE,
            )
            history_save(recording, actor=actor)  # named: the admin middleware is not there for the API
            recording.purposes.set(metadata["purposes"])
            if restriction is not None:
                restriction_attach(restriction=restriction, recording=recording)
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
            # After the transcript, which may have found more segments: one rendition for them all,
            # rendered on a worker once this commits; until then the muted audio is "being prepared".
            if recording.sensitive_segments.exists():
                muted_rendition_request(recording=recording, key=key)
                # Payment data (by default) leaves the stored audio itself, on a worker.
                redaction_at_rest_request(recording=recording)
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
                    **({"restricted_under": restriction.request_reference} if restriction else {}),
                },
            )
    except BaseException:
        for blob in written:
            audio_delete(blob)
        raise
    logger.info("Ingested recording %s (%d bytes)", recording.reference, info.size_bytes)
    return recording
