"""Redaction at rest: the stored audio rewritten with the sensitive segments of the kinds a policy
names (``CUSTOS_REDACT_AT_REST_KINDS``, default payment cards) silenced, under a new recording
key, and the old key destroyed: the unredacted audio is crypto-shredded, not only hidden.

PCI DSS forbids keeping a card's security code after authorisation, even encrypted; muting at
playback (``recordings.playback``) leaves it in the stored audio. Here it goes:

1. **Request** (``redaction_at_rest_request``): in the transaction that stores a recording with
   such segments or marks one, a pending row; the rewrite is enqueued on commit.
2. **Claim** (a worker): pending to running, the segments to silence snapshotted, the new blob
   named and the new key generated and stored wrapped on the row, all before a byte is written.
3. **Rewrite**: the old blob decrypted segment by segment, silenced (PCM and G.711 WAV byte by
   byte as it streams, sample-accurate; other formats decoded and re-encoded by PyAV,
   frame-accurate, ``recordings.audio.render``), encrypted under the new key into the new blob.
4. **Swap**, one transaction under the recording's lock: the recording points at the new blob
   (size, checksum and history), the key row holds the new key (the old one is gone, or kept
   wrapped on this row while ``CUSTOS_UNREDACTED_KEEP_HOURS`` allows), the transcript is
   re-sealed under the new key with the same words redacted, the segments are marked redacted at
   rest, the renditions made under the old key turn stale, and a ``redacted_at_rest`` event.
5. **Finish**: the old key destroyed if it was kept, then the old blob deleted.

A kill -9 anywhere leaves one readable version: before the swap commits, the recording's key
opens the old blob (beat deletes the new one and hands the row back); after it, the new one, and
the old blob's key exists nowhere (or only on this row until its window ends). Beat
(``redactions_at_rest_finish``) resends lost messages, hands back abandoned rows, finishes swaps
and requests what was missed (recordings stored before the policy named a kind).
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import model_update
from recordings.audio.files import SealedScratchFile
from recordings.audio.silence import silenced_audio
from recordings.models import (
    AtRestRedaction,
    Recording,
    RecordingKey,
    SensitiveSegment,
)
from recordings.redaction.at_rest_policy import policy_kinds, policy_rule, segments_to_redact
from recordings.redaction.transcripts import transcript_reseal
from recordings.renditions import muted_rendition_request
from recordings.vault.dead_rows import dead_rows_vacuum_after_commit
from recordings.vault.keys import (
    KEY_BYTES,
    CiphertextError,
    KeyDestroyedError,
    recording_aad,
    recording_key_unwrap,
    recording_key_wrap,
    subject_key,
    wrapped_recording_key_open,
)
from recordings.vault.storage import (
    audio_blob_name,
    audio_open,
    ciphertext_save,
    recordings_storage,
    stored_extension,
)
from recordings.vault.streaming_aead import EncryptingReader

logger = logging.getLogger(__name__)

Status = AtRestRedaction.Status
# A rewrite still "running" this long after its start lost its worker (a 30-minute call in any
# format is rewritten in about a minute: docs/PERFORMANCE.md); beat hands it back.
RUN_TIMEOUT = datetime.timedelta(minutes=30)
RESEND_AFTER = datetime.timedelta(minutes=2)
MAX_ATTEMPTS = 5
IN_FLIGHT = (Status.PENDING, Status.RUNNING)


def _enqueue(redaction_id: int) -> None:
    transaction.on_commit(lambda: redact_recording_at_rest.delay(redaction_id))


@transaction.atomic
def redaction_at_rest_request(*, recording: Recording) -> AtRestRedaction | None:
    """Have the recording's stored audio rewritten without its segments of the policy's kinds,
    once this transaction commits; the rewrite in flight if there is one (it looks again for
    segments left over when it is done). None when nothing is to be silenced."""
    if recording.status == Recording.Status.ERASED or not policy_kinds():
        return None
    if not segments_to_redact(recording).exists():
        return None
    in_flight = recording.at_rest_redactions.filter(status__in=IN_FLIGHT).first()
    if in_flight is not None:
        return in_flight
    try:
        with transaction.atomic():
            redaction = AtRestRedaction.objects.create(recording=recording, rule=policy_rule())
    except IntegrityError:  # a concurrent request wrote it first: join it
        return recording.at_rest_redactions.filter(status__in=IN_FLIGHT).first()
    _enqueue(redaction.pk)
    logger.info("Redaction at rest %s of recording %s requested", redaction.pk, recording.pk)
    return redaction


def _set(redaction_id: int, *, when: str, claim: _Claim | None = None, **fields) -> bool:
    """Conditional update: only if the row is still ``when`` and, given a claim, still that claim
    (a worker stalled past RUN_TIMEOUT whose row was handed back and claimed again must not touch
    the next claim: its blob names it); True if it was."""
    mine = {"target_ref": claim.redaction.target_ref} if claim is not None else {}
    return bool(AtRestRedaction.objects.filter(pk=redaction_id, status=when, **mine).update(**fields))


@dataclass(frozen=True)
class _Claim:
    redaction: AtRestRedaction
    recording: Recording
    old_key: bytes
    new_key: bytes
    bounds: list[tuple[Decimal, Decimal]]


def _claim(redaction_id: int) -> _Claim | None:
    with transaction.atomic():
        redaction = (
            AtRestRedaction.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recording", "recording__subject")
            .filter(pk=redaction_id, status=Status.PENDING)
            .first()
        )
        if redaction is None:
            return None  # done, claimed by another worker, or cancelled: a redelivery does nothing
        recording = redaction.recording
        segments = list(segments_to_redact(recording).order_by("start_seconds", "pk"))
        if recording.status == Recording.Status.ERASED or not segments:
            _set(redaction.pk, when=Status.PENDING, status=Status.CANCELLED, finished_at=timezone.now())
            return None
        try:
            subject_key_bytes = subject_key(recording.subject)
            old_key = recording_key_unwrap(
                RecordingKey.objects.filter(recording=recording).first(), recording, subject_key_bytes
            )
        except KeyDestroyedError:
            _set(redaction.pk, when=Status.PENDING, status=Status.CANCELLED, finished_at=timezone.now())
            return None
        new_key = os.urandom(KEY_BYTES)
        redaction.status, redaction.started_at = Status.RUNNING, timezone.now()
        redaction.attempts += 1
        redaction.source_ref = recording.storage_ref
        redaction.target_ref = audio_blob_name(stored_extension(recording))  # named before written
        redaction.target_wrapped_key = recording_key_wrap(new_key, recording, subject_key_bytes)
        redaction.segments = [
            {
                "id": segment.pk,
                "kind": segment.kind,
                "source": segment.source,
                "start": str(segment.start_seconds),
                "end": str(segment.end_seconds),
            }
            for segment in segments
        ]
        redaction.save()
    bounds = [(segment.start_seconds, segment.end_seconds) for segment in segments]
    return _Claim(redaction, recording, old_key, new_key, bounds)


@dataclass(frozen=True)
class _Rewritten:
    name: str
    size_bytes: int
    checksum_sha256: str
    content_type: str
    muted_seconds: Decimal


def _rewrite(claim: _Claim) -> _Rewritten:
    """The old blob, silenced where ``claim`` says, encrypted under the new key into the new blob
    (named on the row already). RenditionUnsupported for audio PyAV cannot re-encode."""
    recording, redaction = claim.recording, claim.redaction
    with (
        audio_open(name=redaction.source_ref, key=claim.old_key, recording_id=recording.pk) as reader,
        SealedScratchFile(settings.FILE_UPLOAD_TEMP_DIR) as scratch,
    ):
        silenced = silenced_audio(reader, claim.bounds, scratch=scratch, content_type=recording.content_type)
        encrypting = EncryptingReader(
            silenced.plaintext, key=claim.new_key, associated_data=recording_aad(recording.pk)
        )
        name = ciphertext_save(redaction.target_ref, encrypting)
    if name != redaction.target_ref:  # the storage renamed it: the row must name what exists
        recordings_storage().delete(name)
        raise OSError("the storage did not keep the redacted blob's name")
    assert encrypting.sha256 is not None
    return _Rewritten(
        name,
        encrypting.plaintext_bytes_read,
        encrypting.sha256.hexdigest(),
        silenced.content_type,
        silenced.muted_seconds,
    )


def _cancel(row: AtRestRedaction, *, error: str) -> None:
    """The locked row of this claim cancelled; its blob written down for beat to delete."""
    row.status, row.target_wrapped_key, row.error = Status.CANCELLED, b"", error[:300]
    row.discarded_refs = [*row.discarded_refs, row.target_ref]
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "target_wrapped_key", "error", "discarded_refs", "finished_at"])


def _swap(claim: _Claim, rewritten: _Rewritten) -> bool:
    """Make the redacted blob the recording's audio and its key the recording's key, in one
    transaction; False (nothing changed) when the row was handed back or cancelled meanwhile, the
    recording was erased, or its audio or subject changed."""
    redaction = claim.redaction
    with transaction.atomic():
        # The recording, then this row, then the key: the order an erasure and a re-attribution
        # lock them in (recording, key, redactions), so neither deadlocks with this.
        recording = (
            Recording.objects.select_for_update(of=("self",))
            .select_related("subject")
            .get(pk=claim.recording.pk)
        )
        row = (
            AtRestRedaction.objects.select_for_update()
            .filter(pk=redaction.pk, status=Status.RUNNING, target_ref=redaction.target_ref)
            .first()
        )
        if row is None:  # handed back (and maybe claimed again) or cancelled meanwhile
            return False
        key_row = RecordingKey.objects.select_for_update().filter(recording=recording).first()
        if recording.status == Recording.Status.ERASED or recording.storage_ref != redaction.source_ref:
            _cancel(row, error="the recording was erased or its audio replaced")
            return False
        try:
            subject_key_bytes = subject_key(recording.subject)
            old_key = recording_key_unwrap(key_row, recording, subject_key_bytes)
            # Re-attributed meanwhile: the new key was wrapped under the previous subject's key.
            wrapped_recording_key_open(bytes(redaction.target_wrapped_key), recording, subject_key_bytes)
        except (KeyDestroyedError, CiphertextError) as exc:
            _cancel(row, error=f"the key changed meanwhile ({type(exc).__name__})")
            return False
        assert key_row is not None  # recording_key_unwrap refuses a missing row
        now = timezone.now()
        keep = datetime.timedelta(hours=settings.CUSTOS_UNREDACTED_KEEP_HOURS)
        transcript_reseal(recording, old_key=old_key, new_key=claim.new_key)
        previous = bytes(key_row.wrapped_key) if keep else b""
        key_row.wrapped_key = redaction.target_wrapped_key
        key_row.save(update_fields=["wrapped_key"])
        model_update(
            recording,
            actor=None,
            reason="redacted at rest",
            storage_ref=rewritten.name,
            size_bytes=rewritten.size_bytes,
            checksum_sha256=rewritten.checksum_sha256,
            content_type=rewritten.content_type,
        )
        # Only the segments still as they were silenced: one that grew meanwhile is not silent yet.
        unchanged = Q(pk__in=[])
        for segment in redaction.segments:
            unchanged |= Q(pk=segment["id"], start_seconds=segment["start"], end_seconds=segment["end"])
        SensitiveSegment.objects.filter(unchanged, redacted_at_rest__isnull=True).update(
            redacted_at_rest=redaction.pk
        )
        AtRestRedaction.objects.filter(pk=redaction.pk).update(
            status=Status.SWAPPED,
            target_wrapped_key=b"",
            previous_wrapped_key=previous,
            previous_kept_until=now + keep if keep else None,
            muted_seconds=rewritten.muted_seconds,
            error="",
            swapped_at=now,
        )
        # The renditions under the old key turn stale (their source changed); one is requested
        # for the segments still muted on the way out, if any.
        muted_rendition_request(recording=recording, key=claim.new_key)
        dead_rows_vacuum_after_commit()  # the old wrapped key lingers in a dead row version
        access_event_record(
            action=AccessAction.REDACTED_AT_REST,
            object_type="recording",
            object_id=recording.pk,
            object_reference=recording.reference,
            actor=None,
            detail={
                "redaction": redaction.pk,
                "segments": len(redaction.segments),
                "kinds": sorted({segment["kind"] for segment in redaction.segments}),
                "muted_seconds": str(rewritten.muted_seconds),
                "rule": redaction.rule,
                "unredacted_kept_until": (now + keep).isoformat() if keep else None,
            },
        )
        redaction_at_rest_request(recording=recording)  # segments marked while this one ran
    return True


def redaction_at_rest_run(*, redaction_id: int) -> AtRestRedaction | None:
    """Rewrite a pending redaction's recording (the worker's task): claim, rewrite, swap, and
    finish at once when the unredacted version is not kept. Audio that cannot be re-encoded
    leaves the row failed with the reason; a transient error (storage) hands it back to pending
    and is raised for the task to retry; a lost race (erased, re-attributed) cancels it."""
    from recordings.audio.render import RenditionUnsupported

    claim = _claim(redaction_id)
    if claim is None:
        return None
    try:
        rewritten = _rewrite(claim)
    except RenditionUnsupported as exc:
        recordings_storage().delete(claim.redaction.target_ref)
        _set(
            redaction_id,
            when=Status.RUNNING,
            claim=claim,
            status=Status.FAILED,
            target_wrapped_key=b"",
            error=str(exc)[:300],
            finished_at=timezone.now(),
        )
        logger.warning("Redaction at rest %s cannot be done: %s", redaction_id, exc)
        return AtRestRedaction.objects.get(pk=redaction_id)
    except BaseException as exc:
        recordings_storage().delete(claim.redaction.target_ref)
        again = Status.PENDING if claim.redaction.attempts < MAX_ATTEMPTS else Status.FAILED
        error = type(exc).__name__
        _set(
            redaction_id, when=Status.RUNNING, claim=claim, status=again, target_wrapped_key=b"", error=error
        )
        raise
    if _swap(claim, rewritten):
        unredacted_version_remove(redaction_id=redaction_id, now=timezone.now())
    else:
        recordings_storage().delete(rewritten.name)
        with transaction.atomic():  # re-attributed meanwhile: again, under the new subject's key
            redaction_at_rest_request(recording=Recording.objects.get(pk=claim.recording.pk))
    redaction = AtRestRedaction.objects.get(pk=redaction_id)
    logger.info(
        "Redaction at rest %s of recording %s: %s", redaction.pk, redaction.recording_id, redaction.status
    )
    return redaction


def unredacted_version_remove(*, redaction_id: int, now: datetime.datetime) -> bool:
    """The unredacted version of a swapped redaction goes once its window ended (at once without
    one): its key first (after that the old blob is noise), then its blob. True when done; a blob
    the storage refuses stays for beat's next round."""
    with transaction.atomic():
        redaction = (
            AtRestRedaction.objects.select_for_update().filter(pk=redaction_id, status=Status.SWAPPED).first()
        )
        if redaction is None:
            return False
        kept_until = redaction.previous_kept_until
        if redaction.previous_wrapped_key and kept_until is not None and kept_until > now:
            return False
        if redaction.previous_wrapped_key:
            AtRestRedaction.objects.filter(pk=redaction_id).update(previous_wrapped_key=b"")
            dead_rows_vacuum_after_commit()
    try:
        recordings_storage().delete(redaction.source_ref)
    except OSError:
        logger.exception("Unredacted blob of redaction at rest %s not deleted; will retry", redaction_id)
        return False
    return _set(redaction_id, when=Status.SWAPPED, status=Status.DONE, source_deleted_at=now, finished_at=now)


# --- Tasks (re-exported by recordings.tasks: this module may not import it) -------------------


@shared_task(
    name="recordings.tasks.redact_recording_at_rest",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=4,
)
def redact_recording_at_rest(redaction_id: int) -> str | None:
    """On demand, once a recording with segments of the policy's kinds is stored or one is
    marked: rewrite its stored audio without them. A redelivery of a claimed or done one does
    nothing."""
    redaction = redaction_at_rest_run(redaction_id=redaction_id)
    return redaction.status if redaction is not None else None
