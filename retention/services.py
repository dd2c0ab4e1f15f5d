"""Write use-cases of retention: keep-until computation and the sweep."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from recordings.models import Recording
from recordings.selectors import purposes_lawful_for
from recordings.services import recording_keys_destroy
from recordings.sharing import shares_revoke_for
from retention.models import DeletionRecord, DispositionApproval, LegalHold, RetentionPolicy, SweepRun
from retention.selectors import (
    deletions_with_blob_pending,
    recordings_expired,
    recordings_past_retention,
)

logger = logging.getLogger(__name__)

# Tombstones whose blobs are confirmed deleted in one UPDATE (and one INSERT of their history).
BLOB_CONFIRM_CHUNK = 500


def keep_until_for(recording: Recording) -> datetime.datetime:
    """The longest retention among the purposes the recording may still serve (the default for
    one without a policy); when it may serve none (its only consent withdrawn), now: the next
    sweep deletes it unless a legal hold keeps it."""
    purpose_ids = [p.pk for p in purposes_lawful_for(recording)]
    if not purpose_ids:
        return min(timezone.now(), recording.keep_until or timezone.now())
    longest = RetentionPolicy.objects.filter(purpose__in=purpose_ids).aggregate(m=Max("keep_days"))["m"]
    covered = RetentionPolicy.objects.filter(purpose__in=purpose_ids).count()
    if longest is None or covered < len(purpose_ids):
        longest = max(longest or 0, settings.RETENTION_DEFAULT_DAYS)
    return recording.started_at + datetime.timedelta(days=longest)


@transaction.atomic
def recording_keep_until_recompute(*, recording: Recording) -> Recording:
    recording.keep_until = keep_until_for(recording)
    recording.save(update_fields=["keep_until"])
    return recording


def _delete_pending_blobs() -> None:
    """Delete the blobs of tombstoned recordings; a failure is retried on the next sweep.

    The tombstones are confirmed (with their history rows) a chunk at a time rather than one
    save each: if the process dies between a blob's deletion and its confirmation, the next sweep
    deletes it again, which the storage treats as done (the blob is already gone)."""
    storage = storages["recordings"]
    deleted: list[DeletionRecord] = []
    for record in deletions_with_blob_pending().iterator(chunk_size=BLOB_CONFIRM_CHUNK):
        try:
            storage.delete(record.storage_ref)
        except OSError:
            logger.exception("Blob of deletion record %s not deleted; will retry", record.pk)
            continue
        deleted.append(record)
        if len(deleted) >= BLOB_CONFIRM_CHUNK:
            _blob_deletions_confirm(deleted)
            deleted = []
    if deleted:
        _blob_deletions_confirm(deleted)


@transaction.atomic
def _blob_deletions_confirm(records: list[DeletionRecord]) -> None:
    """Record that these tombstones' blobs are gone: one UPDATE and their history rows."""
    now = timezone.now()
    DeletionRecord.objects.filter(pk__in=[record.pk for record in records]).update(blob_deleted_at=now)
    for record in records:
        record.blob_deleted_at = now
    DeletionRecord.history.bulk_history_create(records, update=True, default_date=now)


def recordings_erase(
    *,
    recordings: list[Recording],
    reason: str,
    rules: dict[int, str],
    now: datetime.datetime,
    actor=None,
    sweep_run: SweepRun | None = None,
) -> list[DeletionRecord]:
    """Erase recordings inside the caller's transaction: shred their keys, write their
    tombstones, mark them erased (``rules`` maps each recording's id to the rule that required
    it). The blobs are deleted after the commit (``_delete_pending_blobs``), retried until the
    storage confirms, because each tombstone keeps its blob's name until then.

    Set-based, so a batch costs a fixed number of statements whatever its size: the sweep's
    batches of 500 would otherwise send 16 statements per recording."""
    if not recordings:
        return []
    with transaction.atomic(savepoint=False):
        # The keys go first, in the same transaction as the tombstones: from the commit on, the
        # blobs are unreadable wherever a copy survives; no share of them stays open.
        recording_keys_destroy(recordings=recordings, actor=actor, reasons=rules)
        shares_revoke_for(recordings=recordings, reason="erased", actor=actor)
        records = bulk_create_with_history(
            [
                DeletionRecord(
                    recording_id=recording.pk,
                    recording_reference=recording.reference,
                    subject_reference=recording.subject.reference,
                    queue_code=recording.queue.code,
                    reason=reason,
                    rule=rules[recording.pk],
                    executed_by=actor,
                    sweep_run=sweep_run,
                    deleted_at=now,
                    storage_ref=recording.storage_ref,
                )
                for recording in recordings
            ],
            DeletionRecord,
            default_user=actor,
        )
        Recording.objects.filter(pk__in=[r.pk for r in recordings]).update(
            status=Recording.Status.ERASED, storage_ref=""
        )
        for recording in recordings:
            recording.status, recording.storage_ref = Recording.Status.ERASED, ""
        _recordings_history_write(recordings, actor)
    return records


def _recordings_history_write(recordings: list[Recording], actor) -> None:
    """The history rows a save of each recording would write, its purposes' rows included."""
    history_rows = Recording.history.bulk_history_create(recordings, update=True, default_user=actor)
    links = Recording.purposes.through.objects.filter(recording__in=recordings).values_list(
        "id", "recording_id", "purpose_id"
    )
    purposes_by_recording: dict[int, list[tuple[int, int]]] = {}
    for link_id, recording_id, purpose_id in links:
        purposes_by_recording.setdefault(recording_id, []).append((link_id, purpose_id))
    m2m_history = Recording.history.model._meta.get_field("historicalrecording_purposes").related_model
    m2m_history.objects.bulk_create(
        m2m_history(id=link_id, recording_id=row.id, purpose_id=purpose_id, history=row)
        for row in history_rows
        for link_id, purpose_id in purposes_by_recording.get(row.id, [])
    )


def blobs_delete_pending_after_commit() -> None:
    transaction.on_commit(_delete_pending_blobs)


def _erase_batch(run: SweepRun, now: datetime.datetime, batch_size: int) -> int:
    with transaction.atomic():
        # skip_locked: two sweeps share the work instead of waiting on each other; pk order keeps
        # the lock order stable. The hold check is part of this locked query.
        batch = list(
            recordings_past_retention(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .select_related("subject", "queue")[:batch_size]
        )
        recordings_erase(
            recordings=batch,
            reason=DeletionRecord.Reason.RETENTION_EXPIRED,
            rules={recording.pk: f"Retention ended {recording.keep_until:%Y-%m-%d}" for recording in batch},
            now=now,
            sweep_run=run,
        )
        run.examined += len(batch)
        run.deleted += len(batch)
        run.save(update_fields=["examined", "deleted"])
    return len(batch)


# A run still "running" this long after it started was abandoned: the next sweep marks it failed.
# (A live sweep that long is marked too, and marks itself finished or failed when it ends.)
SWEEP_RUN_ABANDONED_AFTER = datetime.timedelta(hours=12)


def _sweep_runs_abandoned_fail(now: datetime.datetime) -> None:
    """Mark failed the runs still "running" long after they started: their sweep died with its
    worker (kill -9, a lost machine) and will never say so itself."""
    for run in SweepRun.objects.filter(
        status=SweepRun.Status.RUNNING, started_at__lt=now - SWEEP_RUN_ABANDONED_AFTER
    ):
        logger.warning("Sweep run %s, running since %s, was abandoned; marked failed", run.pk, run.started_at)
        run.status = SweepRun.Status.FAILED
        run.finished_at = now
        run.save(update_fields=["status", "finished_at"])


def retention_sweep(*, now: datetime.datetime, batch_size: int | None = None) -> SweepRun:
    """Mark expired, unheld recordings erased with a tombstone, then delete their blobs.

    Each batch commits on its own, so an interrupted sweep keeps what it finished; the tombstone
    carries the blob name until the storage confirms the deletion, so a rerun completes it.
    """
    batch_size = batch_size or settings.RETENTION_SWEEP_BATCH_SIZE
    _sweep_runs_abandoned_fail(now)
    _delete_pending_blobs()
    run = SweepRun.objects.create(started_at=now)
    try:
        held_back = recordings_expired(now).count() - recordings_past_retention(now).count()
        run.held_back = held_back
        run.examined = held_back
        run.save(update_fields=["held_back", "examined"])
        while _erase_batch(run, now, batch_size):
            _delete_pending_blobs()
    except Exception:
        run.status = SweepRun.Status.FAILED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        raise
    run.status = SweepRun.Status.FINISHED
    run.finished_at = max(timezone.now(), run.started_at)
    run.save(update_fields=["status", "finished_at"])
    return run


@transaction.atomic
def hold_place(*, hold: LegalHold, placed_by) -> LegalHold:
    """Place a legal hold; from this moment no sweep or erasure touches what it covers."""
    hold.placed_by = placed_by
    hold.placed_at = timezone.now()
    hold.released_at = hold.released_by = None
    hold.full_clean()
    hold.save()
    return hold


@transaction.atomic
def hold_release(*, hold: LegalHold, released_by, reason: str) -> LegalHold:
    """Release a hold with a reason; retention resumes for what it covered."""
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        raise ValidationError("This hold was already released.")
    if not reason.strip():
        raise ValidationError({"release_reason": "Say why the hold is released."})
    hold.released_by = released_by
    hold.released_at = timezone.now()
    hold.release_reason = reason.strip()
    hold.save(update_fields=["released_by", "released_at", "release_reason"])
    return hold


@transaction.atomic
def disposition_approve(*, recording: Recording, actor, note: str = "") -> DispositionApproval:
    """The DPO's approval to delete a recording whose policy asks for review; the next sweep
    deletes it (unless a hold has come meanwhile)."""
    approval, created = DispositionApproval.objects.get_or_create(
        recording=recording, defaults={"approved_by": actor, "approved_at": timezone.now(), "note": note}
    )
    if not created:
        raise ValidationError(f"Deletion of {recording.reference} was already approved.")
    return approval
