"""Write use-cases of muted renditions: requested whenever a recording's segments change (or it
is ingested with some), rendered on a worker, finished by beat, deleted with their blob once
stale (segments changed, recording erased).

A rendition is a durable row (``MutedRendition``) before it is work: the request writes it in the
caller's transaction and enqueues the render on commit; a worker claims it by a conditional
update (pending to running), names its blob on the row before writing it, and marks it ready only
if it is still running then (a segment change meanwhile made it stale: the blob goes). Beat sends
again the rows whose message was lost, hands back the ones whose worker died, and deletes the
stale ones' blobs. The audio is never written in clear: the source is decrypted segment by
segment, the encoder writes to a scratch file sealed under a key of its own
(``recordings.audio.files``), and the result is encrypted under the recording's key with
associated data naming the rendition (``rendition_aad``).
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal
from typing import BinaryIO, cast

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from recordings.audio.files import PlaintextFile, SealedScratchFile
from recordings.audio.fingerprint import rendition_fingerprint
from recordings.models import MutedRendition, Recording, RenditionStatus
from recordings.playback.audio import WAV_CONTENT_TYPES, is_wav, mutable_in_place
from recordings.selectors import recording_segment_bounds, renditions_current, segments_muted_when_played
from recordings.vault.keys import KeyDestroyedError, recording_key, rendition_aad
from recordings.vault.storage import (
    audio_blob_name,
    audio_open,
    ciphertext_save,
    recordings_storage,
    stored_extension,
)
from recordings.vault.streaming_aead import EncryptingReader

logger = logging.getLogger(__name__)

Status = RenditionStatus
# A rendition still "running" this long after its start lost its worker (30 minutes of Opus
# render in about a minute: docs/PERFORMANCE.md); beat hands it back.
RENDER_TIMEOUT = datetime.timedelta(minutes=30)
# A pending row older than this has lost its message (the request enqueued it on commit).
RESEND_AFTER = datetime.timedelta(minutes=2)
# Attempts before a rendition that keeps failing on transient errors is left failed.
MAX_ATTEMPTS = 5


def _enqueue_render(rendition_id: int) -> None:
    transaction.on_commit(lambda: render_muted_rendition.delay(rendition_id))


def _enqueue_stale_delete() -> None:
    transaction.on_commit(delete_stale_renditions.delay)


@transaction.atomic
def muted_rendition_request(*, recording: Recording, key: bytes | None = None) -> MutedRendition | None:
    """Make the recording's muted rendition follow its segments: the live renditions of other
    segments turn stale (their blobs are deleted on a worker), and one for the segments as they
    are now is written pending and rendered on commit, unless there is one already or none is
    needed (no segments, or PCM or G.711 WAV, muted in place). Returns the current rendition."""
    # The caller's instance may predate a redaction at rest that replaced the audio.
    recording.refresh_from_db(fields=["storage_ref", "status", "content_type"])
    segments = recording_segment_bounds(recording)
    fingerprint = rendition_fingerprint(segments, storage_ref=recording.storage_ref)
    others = recording.muted_renditions.exclude(status=Status.STALE).exclude(fingerprint=fingerprint)
    if others.update(status=Status.STALE):
        _enqueue_stale_delete()
    if not segments or recording.status == Recording.Status.ERASED:
        return None
    if is_wav(recording):
        try:
            if mutable_in_place(recording, key if key is not None else recording_key(recording)):
                return None
        except KeyDestroyedError:
            return None
    current = renditions_current(recording, segments).first()
    if current is not None:
        return current
    try:
        with transaction.atomic():
            rendition = MutedRendition.objects.create(recording=recording, fingerprint=fingerprint)
    except IntegrityError:  # a concurrent request wrote it first: join it
        return renditions_current(recording, segments).first()
    _enqueue_render(rendition.pk)
    logger.info("Muted rendition %s of recording %s requested", rendition.pk, recording.pk)
    return rendition


def _blob_name(recording: Recording) -> str:
    return audio_blob_name(f"muted.{stored_extension(recording)}")


def _claim(rendition_id: int) -> MutedRendition | None:
    with transaction.atomic():
        rendition = (
            # Only the rendition's row: an erasure holding the recording's must not hide it.
            MutedRendition.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recording", "recording__subject")
            .filter(pk=rendition_id, status=Status.PENDING)
            .first()
        )
        if rendition is None:
            return None  # done, claimed by another worker, or stale: a redelivery does nothing
        rendition.status, rendition.started_at = Status.RUNNING, timezone.now()
        rendition.attempts += 1
        rendition.storage_ref = _blob_name(rendition.recording)  # named before written: never orphaned
        rendition.save(update_fields=["status", "started_at", "attempts", "storage_ref"])
    return rendition


def _set(rendition: MutedRendition, *, when: RenditionStatus, **fields) -> bool:
    """Conditional update: only if the row is still ``when``; True if it was."""
    return bool(MutedRendition.objects.filter(pk=rendition.pk, status=when).update(**fields))


def muted_rendition_render(*, rendition_id: int) -> MutedRendition | None:
    """Render a pending rendition (the worker's task): claim it, decode the recording's audio,
    silence its segments, re-encode and store it encrypted; ready, failed (audio that cannot be
    rendered, with the reason), or stale (the segments changed meanwhile). A transient error
    (storage) hands the row back to pending and is raised for the task to retry."""
    from recordings.audio.render import RenditionUnsupported, render_muted  # PyAV loads on workers only

    rendition = _claim(rendition_id)
    if rendition is None:
        return None
    recording = rendition.recording
    segments = recording_segment_bounds(recording)
    if rendition_fingerprint(segments, storage_ref=recording.storage_ref) != rendition.fingerprint:
        return _stale(rendition)
    try:
        key = recording_key(recording)
    except KeyDestroyedError:
        return _stale(rendition)
    name = rendition.storage_ref
    try:
        with (
            audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as reader,
            SealedScratchFile(settings.FILE_UPLOAD_TEMP_DIR) as scratch,
        ):
            result = render_muted(PlaintextFile(reader), scratch, segments)
            scratch.seek(0)
            encrypting = EncryptingReader(
                cast(BinaryIO, scratch),
                key=key,
                associated_data=rendition_aad(recording.pk, rendition.fingerprint),
            )
            stored = ciphertext_save(name, encrypting)
    except RenditionUnsupported as exc:
        logger.warning("Muted rendition %s cannot be rendered: %s", rendition.pk, exc)
        _set(
            rendition,
            when=Status.RUNNING,
            status=Status.FAILED,
            error=str(exc)[:300],
            finished_at=timezone.now(),
        )
        rendition.refresh_from_db()
        return rendition
    except BaseException as exc:
        recordings_storage().delete(name)
        again = Status.PENDING if rendition.attempts < MAX_ATTEMPTS else Status.FAILED
        _set(rendition, when=Status.RUNNING, status=again, error=f"{type(exc).__name__}"[:300])
        raise
    done = _set(
        rendition,
        when=Status.RUNNING,
        status=Status.READY,
        storage_ref=stored,
        content_type=result.content_type,
        size_bytes=encrypting.plaintext_bytes_read,
        checksum_sha256=encrypting.sha256.hexdigest() if encrypting.sha256 else "",
        muted_seconds=(Decimal(result.muted_samples) / result.sample_rate).quantize(Decimal("0.001")),
        error="",
        finished_at=timezone.now(),
    )
    if not done:  # the segments changed while it rendered: the row is stale, its blob goes now
        MutedRendition.objects.filter(pk=rendition.pk).update(storage_ref=stored)
        _enqueue_stale_delete_now()
    rendition.refresh_from_db()
    logger.info("Muted rendition %s of recording %s: %s", rendition.pk, recording.pk, rendition.status)
    return rendition


def _stale(rendition: MutedRendition) -> MutedRendition:
    """The rendition's segments changed or its key is gone: stale, deleted on a worker."""
    _set(rendition, when=Status.RUNNING, status=Status.STALE)
    _enqueue_stale_delete_now()
    rendition.refresh_from_db()
    return rendition


def _enqueue_stale_delete_now() -> None:
    with transaction.atomic():
        _enqueue_stale_delete()


def renditions_stale_delete() -> int:
    """Delete the blobs of stale renditions, then their rows; a blob the storage refuses stays
    for the next run. Returns how many the storage refused."""
    storage = recordings_storage()
    refused = 0
    stale = MutedRendition.objects.filter(status=Status.STALE).order_by("pk").values_list("pk", "storage_ref")
    for rendition_id, name in list(stale):
        if name:
            try:
                storage.delete(name)
            except OSError:
                logger.exception("Blob of muted rendition %s not deleted; will retry", rendition_id)
                refused += 1
                continue
        MutedRendition.objects.filter(pk=rendition_id, status=Status.STALE).delete()
    return refused


def renditions_of_erased_mark_stale(*, recording_ids: list[int]) -> int:
    """The renditions of recordings being erased turn stale (their blobs go with the original's,
    ``retention.services``); inside the erasure's transaction. Returns how many."""
    return (
        MutedRendition.objects.filter(recording_id__in=recording_ids)
        .exclude(status=Status.STALE)
        .update(status=Status.STALE)
    )


def renditions_finish(*, now: datetime.datetime, batch_size: int = 200) -> dict[str, int]:
    """Beat's round: hand back the renditions whose worker died, send again the pending ones
    whose message was lost, request the missing ones (recordings with segments ingested before
    renditions, in a format muted only by one), and delete the stale ones' blobs."""
    with transaction.atomic():
        abandoned = MutedRendition.objects.filter(status=Status.RUNNING, started_at__lt=now - RENDER_TIMEOUT)
        handed_back = abandoned.filter(attempts__lt=MAX_ATTEMPTS).update(status=Status.PENDING)
        abandoned.update(status=Status.FAILED, error="gave up: its worker died each time")
    resent = 0
    with transaction.atomic():
        late = MutedRendition.objects.filter(status=Status.PENDING, created_at__lt=now - RESEND_AFTER)
        for rendition_id in late.order_by("pk").values_list("pk", flat=True)[:batch_size]:
            _enqueue_render(rendition_id)
            resent += 1
    missing = (
        Recording.objects.exclude(status=Recording.Status.ERASED)
        .filter(Exists(segments_muted_when_played(OuterRef("pk"))))
        .exclude(Q(content_type__in=WAV_CONTENT_TYPES) | Q(content_type__startswith="audio/wav"))
        .exclude(Exists(MutedRendition.objects.filter(recording=OuterRef("pk")).exclude(status=Status.STALE)))
        .select_related("subject")
        .order_by("pk")[:batch_size]
    )
    requested = 0
    for recording in missing:
        if muted_rendition_request(recording=recording) is not None:
            requested += 1
    refused = renditions_stale_delete()
    return {"handed_back": handed_back, "resent": resent, "requested": requested, "refused": refused}


# --- Tasks (re-exported by recordings.tasks: this module may not import it) -------------------


@shared_task(
    name="recordings.tasks.render_muted_rendition",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=4,
)
def render_muted_rendition(rendition_id: int) -> str | None:
    """On demand, once a recording with segments is stored or its segments change: render its
    muted rendition. A redelivery of a rendition already claimed or done does nothing."""
    rendition = muted_rendition_render(rendition_id=rendition_id)
    return rendition.status if rendition is not None else None


@shared_task(name="recordings.tasks.delete_stale_renditions", autoretry_for=(OSError,), retry_backoff=True)
def delete_stale_renditions() -> int:
    """On demand, once a rendition turned stale: delete its blob and its row; returns how many
    blobs the storage refused (beat retries them)."""
    return renditions_stale_delete()


@shared_task(name="recordings.tasks.finish_muted_renditions")
def finish_muted_renditions() -> dict[str, int]:
    """Every few minutes: finish the renditions left pending or abandoned, request the missing
    ones, delete the stale ones. Counts only."""
    return renditions_finish(now=timezone.now())
