"""Write use-cases of retention: keep-until computation and the sweep."""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.bulk_rows import rows_insert
from compliance_site.history_bulk import HISTORY_CHANGED, HISTORY_CREATED, history_copy
from compliance_site.leases import lease_acquire, lease_held, lease_release
from recordings.models import Recording
from recordings.renditions import renditions_of_erased_mark_stale, renditions_stale_delete
from recordings.sharing.services import shares_revoke_for
from recordings.vault.services import recording_keys_destroy
from retention.held_erasures import (
    held_erasures_on_hold_placed,
    held_erasures_on_hold_released,
    subjects_lock_for_hold,
)
from retention.keep_until import keep_until_compute, keep_until_recompute
from retention.models import DeletionRecord, DispositionApproval, LegalHold, SweepRun
from retention.selectors import (
    ERASURE_TARGET_COLUMNS,
    ErasureTarget,
    deletions_with_blob_pending,
    recordings_expired,
    recordings_past_retention,
)
from retention.subject_expiry import subjects_expire

logger = logging.getLogger(__name__)

# Tombstones whose blobs are confirmed deleted in one UPDATE (and one INSERT of their history).
BLOB_CONFIRM_CHUNK = 500

# Sent by ``recordings_erase`` inside the erasing transaction, with ``recording_ids`` (a list),
# ``now`` and ``actor``: what an app above retention holds of those calls (the QA reviews'
# evaluations) goes in the same commit, without retention importing it. A receiver must be
# set-based, a fixed number of statements whatever the batch's size, like the erasure itself.
recordings_erasing = Signal()


def keep_until_for(recording: Recording) -> datetime.datetime:
    """The longest retention among the purposes the recording may still serve (the default for
    one without a policy); when it may serve none (its only consent withdrawn), now: the next
    sweep deletes it unless a legal hold keeps it. The rule is ``retention.keep_until``'s."""
    return keep_until_compute([recording.pk], now=timezone.now())[recording.pk].keep_until


@transaction.atomic
def recording_keep_until_recompute(*, recording: Recording) -> Recording:
    """One recording's keep-until, cause and rule, by the same set-based rule as a batch."""
    # The history row's author is the recording's own (the ingest's actor), as a save would take it.
    keep_until_recompute([recording.pk], now=timezone.now(), actor=getattr(recording, "_history_user", None))
    recording.refresh_from_db(fields=["keep_until", "keep_until_cause", "keep_until_rule"])
    return recording


def _delete_pending_blobs() -> int:
    """Delete the blobs of tombstoned recordings; a failure is retried on the next sweep. Returns
    how many blobs the storage refused (still pending).

    The tombstones are confirmed (with their history rows) a chunk at a time rather than one
    save each: if the process dies between a blob's deletion and its confirmation, the next sweep
    deletes it again, which the storage treats as done (the blob is already gone)."""
    storage = storages["recordings"]
    deleted: list[int] = []
    refused = 0
    pending = deletions_with_blob_pending().values_list("pk", "storage_ref")
    for record_id, storage_ref in pending.iterator(chunk_size=BLOB_CONFIRM_CHUNK):
        try:
            storage.delete(storage_ref)
        except OSError:
            logger.exception("Blob of deletion record %s not deleted; will retry", record_id)
            refused += 1
            continue
        deleted.append(record_id)
        if len(deleted) >= BLOB_CONFIRM_CHUNK:
            _blob_deletions_confirm(deleted)
            deleted = []
    if deleted:
        _blob_deletions_confirm(deleted)
    return refused + renditions_stale_delete()


def _close_this_threads_connection() -> None:
    connection.close()  # the proxy resolves to the calling thread's connection


class _BlobDeletionBehind:
    """Deletes the blobs of the batches already committed in a worker thread, while the sweep
    erases the next batch: unlinking is I/O and the confirmations go through the worker's own
    connection, so on two cores they overlap with the batch instead of following it (they were a
    third of the sweep's time; docs/PERFORMANCE.md). One deletion runs at a time and takes every
    blob pending when it starts, so a blob is never deleted by two at once; ``start`` first waits
    for the one before and raises its error, as does leaving the block.

    Inline on SQLite (one writer at a time) and inside an outer transaction, whose tombstones
    another connection could not see yet."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._running: Future | None = None

    def __enter__(self) -> _BlobDeletionBehind:
        if connection.vendor != "sqlite" and not connection.in_atomic_block:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-blobs")
        return self

    def start(self) -> None:
        if self._executor is None:
            _delete_pending_blobs()
            return
        self._wait()
        self._running = self._executor.submit(_delete_pending_blobs)

    def _wait(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            running.result()

    def __exit__(self, error_type, error, traceback) -> None:
        if self._executor is None:
            return
        try:
            self._wait()
        except Exception:
            if error is None:
                raise
            # The sweep's own error is the one to raise; the worker's is left for the log.
            logger.exception("Deleting swept blobs failed too; the next sweep retries them")
        finally:
            # The worker's connection is its thread's; it closes there, before the thread ends.
            self._executor.submit(_close_this_threads_connection).result()
            self._executor.shutdown()


@transaction.atomic
def _blob_deletions_confirm(record_ids: list[int]) -> None:
    """Record that these tombstones' blobs are gone: one UPDATE and their history rows."""
    now = timezone.now()
    confirmed = DeletionRecord.objects.filter(pk__any_of=record_ids)
    confirmed.update(blob_deleted_at=now)
    history_copy(confirmed, history_type=HISTORY_CHANGED, date=now)


def recordings_erase(
    *,
    targets: list[ErasureTarget],
    reason: str,
    rules: dict[int, str],
    now: datetime.datetime,
    actor=None,
    sweep_run: SweepRun | None = None,
) -> None:
    """Erase recordings inside the caller's transaction: shred their keys, write their
    tombstones, mark them erased (``rules`` maps each recording's id to the rule that required
    it). The blobs are deleted after the commit (``_delete_pending_blobs``), retried until the
    storage confirms, because each tombstone keeps its blob's name until then.

    Set-based, so a batch costs a fixed number of statements whatever its size: the sweep's
    batches of 500 would otherwise send 16 statements per recording. The tombstones go in with
    one COPY (``rows_insert``) and the history rows are copied by the database (``history_copy``),
    not built in Python. Last, ``recordings_erasing`` lets the apps above drop what they hold of
    these calls in the same transaction."""
    if not targets:
        return
    recording_ids = [target.pk for target in targets]
    with transaction.atomic(savepoint=False):
        # The keys go first, in the same transaction as the tombstones: from the commit on, the
        # blobs are unreadable wherever a copy survives; no share of them stays open.
        recording_keys_destroy(recordings=targets, actor=actor, reasons=rules)
        shares_revoke_for(recordings=recording_ids, reason="erased", actor=actor)
        # Their muted renditions (under the same keys, shredded above) go with them: the blobs
        # after the commit, with the originals' (``_delete_pending_blobs``).
        renditions_of_erased_mark_stale(recording_ids=recording_ids)
        rows_insert(
            [
                DeletionRecord(
                    recording_id=target.pk,
                    recording_reference=target.reference,
                    subject_reference=target.subject_reference,
                    queue_code=target.queue_code,
                    reason=reason,
                    rule=rules[target.pk],
                    executed_by=actor,
                    sweep_run=sweep_run,
                    deleted_at=now,
                    storage_ref=target.storage_ref,
                )
                for target in targets
            ]
        )
        written_at = timezone.now()
        history_copy(
            DeletionRecord.objects.filter(recording_id__any_of=recording_ids),
            history_type=HISTORY_CREATED,
            date=written_at,
            user=actor,
        )
        erased = Recording.objects.filter(pk__any_of=recording_ids)
        erased.update(status=Recording.Status.ERASED, storage_ref="")
        history_copy(erased, history_type=HISTORY_CHANGED, date=written_at, user=actor)
        recordings_erasing.send(sender=Recording, recording_ids=recording_ids, now=now, actor=actor)


class BlobsPending(OSError):
    """The storage refused to delete some blobs; their tombstones still name them."""


def blobs_delete_pending() -> None:
    """Delete the blobs of every tombstone still naming one (``retention.tasks.delete_pending_blobs``).
    Idempotent: a blob already gone counts as deleted, and a tombstone confirmed is not read again.
    Raises BlobsPending (an OSError, which the task retries with backoff) when the storage refused
    some, having deleted and confirmed the others."""
    refused = _delete_pending_blobs()
    if refused:
        raise BlobsPending(f"{refused} blob(s) not deleted; their tombstones stay pending.")


def blobs_delete_pending_after_commit() -> None:
    """Once the caller's erasure commits, have a worker delete the blobs it left pending: an
    erasure of thousands of recordings must not unlink them in the web thread (or in the job that
    erased them). Should the message be lost, the next sweep deletes them first thing."""
    from retention.tasks import delete_pending_blobs

    transaction.on_commit(delete_pending_blobs.delay)


def _erase_batch(run: SweepRun, now: datetime.datetime, batch_size: int) -> int:
    with transaction.atomic():
        # skip_locked: two sweeps share the work instead of waiting on each other; pk order keeps
        # the lock order stable. The hold check is part of this locked query.
        rows = (
            recordings_past_retention(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .values_list(*ERASURE_TARGET_COLUMNS, "keep_until", "keep_until_cause", "keep_until_rule")[
                :batch_size
            ]
        )
        batch, by_cause, rules = [], defaultdict(list), {}
        for *target, keep_until, cause, rule in rows:
            batch.append(ErasureTarget(*target))
            # The cause and rule stored with keep-until (retention.keep_until): what ended it.
            by_cause[cause or DeletionRecord.Reason.RETENTION_EXPIRED].append(batch[-1])
            ended = f"Retention ended {keep_until:%Y-%m-%d}"
            rules[batch[-1].pk] = f"{rule}; {ended[0].lower()}{ended[1:]}"[:200] if rule else ended
        for cause, targets in by_cause.items():
            recordings_erase(targets=targets, reason=cause, rules=rules, now=now, sweep_run=run)
        if batch:
            # One event per batch: each recording already has its key_destroyed event with the rule.
            access_event_record(
                action=AccessAction.RETENTION_DELETION,
                object_type="sweep_run",
                object_id=run.pk,
                detail={"recordings": len(batch), "first": batch[0].pk, "last": batch[-1].pk},
            )
        run.examined += len(batch)
        run.deleted += len(batch)
        run.save(update_fields=["examined", "deleted"])
    return len(batch)


# The lease a running sweep holds on its run (compliance_site.leases): dropped by the database
# server or the kernel the moment its process dies.
SWEEP_RUN_LEASE = "sweep-run"
# A run whose lease still looks held this long after it started is marked failed anyway: its
# host may be lost with its connection half-open, which the server notices only much later. (A
# live sweep that long is marked too, and marks itself finished or failed when it ends.)
SWEEP_RUN_ABANDONED_AFTER = datetime.timedelta(hours=12)


def _sweep_runs_abandoned_mark(*, current: SweepRun, now: datetime.datetime) -> list[SweepRun]:
    """Mark the other runs still "running" whose sweep is dead: "abandoned", superseded by
    ``current``, which redoes their work (a killed sweep's message is redelivered, or the next
    night's sweep comes). Their worker died (kill -9, the OOM killer, a lost machine) and will
    never say so itself; without this they would show "running" for hours. A run whose lease is
    held is a live sweep on another worker and is left alone (the two share the work); past
    ``SWEEP_RUN_ABANDONED_AFTER`` it is marked failed."""
    marked = []
    with transaction.atomic():
        # The row lock orders this against the run's own last save: a sweep that finished just
        # now is read as finished here (its status commits before it lets its lease go).
        running = (
            SweepRun.objects.select_for_update().filter(status=SweepRun.Status.RUNNING).exclude(pk=current.pk)
        )
        for run in running.order_by("pk"):
            if not lease_held(SWEEP_RUN_LEASE, run.pk):
                logger.warning("Sweep run %s died with its worker; superseded by run %s", run.pk, current.pk)
                run.status, run.superseded_by = SweepRun.Status.ABANDONED, current
            elif run.started_at < now - SWEEP_RUN_ABANDONED_AFTER:
                logger.warning("Sweep run %s, running since %s, marked failed", run.pk, run.started_at)
                run.status = SweepRun.Status.FAILED
            else:
                continue
            run.finished_at = max(now, run.started_at)
            run.save(update_fields=["status", "superseded_by", "finished_at"])
            marked.append(run)
    return marked


def retention_sweep(*, now: datetime.datetime, batch_size: int | None = None) -> SweepRun:
    """Mark expired, unheld recordings erased with a tombstone, then delete their blobs; last,
    erase the subjects with nothing left to keep (``retention.subject_expiry``).

    Each batch commits on its own, so an interrupted sweep keeps what it finished; the tombstone
    carries the blob name until the storage confirms the deletion, so a rerun completes it.
    The run holds its lease from before its row is visible until after its last status is saved,
    and first marks the runs of dead sweeps superseded by itself.
    """
    batch_size = batch_size or settings.RETENTION_SWEEP_BATCH_SIZE
    with transaction.atomic():
        run = SweepRun.objects.create(started_at=now)
        # Taken before the row commits: no other sweep can see this run without its lease.
        lease = lease_acquire(SWEEP_RUN_LEASE, run.pk)
    try:
        _sweep_runs_abandoned_mark(current=run, now=now)
        _delete_pending_blobs()
        try:
            held_back = recordings_expired(now).count() - recordings_past_retention(now).count()
            run.held_back = held_back
            run.examined = held_back
            run.save(update_fields=["held_back", "examined"])
            with _BlobDeletionBehind() as blob_deletion:
                while _erase_batch(run, now, batch_size):
                    blob_deletion.start()
            # Last: a subject whose last call this sweep deleted may have nothing left to keep.
            subjects_expire(now=now, run=run, batch_size=batch_size)
        except Exception:
            run.status = SweepRun.Status.FAILED
            run.finished_at = max(timezone.now(), run.started_at)
            run.save(update_fields=["status", "finished_at"])
            raise
        run.status = SweepRun.Status.FINISHED
        run.finished_at = max(timezone.now(), run.started_at)
        run.save(update_fields=["status", "finished_at"])
    finally:
        lease_release(lease, SWEEP_RUN_LEASE, run.pk)
    return run


@transaction.atomic
def hold_place(*, hold: LegalHold, placed_by) -> LegalHold:
    """Place a legal hold; from this moment no sweep or erasure touches what it covers, and an
    erasure it covers that was deferred by an earlier hold waits again (``retention.held_erasures``)."""
    hold.full_clean(exclude=["placed_by", "placed_at"])
    # An erasure running now locks its subject's row before it reads the holds
    # (dsr.erasure.subject_erase): taking the same rows first orders the two, so the erasure
    # either finished before this hold or sees it.
    subjects_lock_for_hold(hold)
    hold.placed_by = placed_by
    hold.placed_at = timezone.now()
    hold.released_at = hold.released_by = None
    hold.full_clean()
    hold.save()
    held_erasures_on_hold_placed(hold=hold, actor=placed_by)
    access_event_record(
        action=AccessAction.HOLD_PLACED,
        object_type="legal_hold",
        object_id=hold.pk,
        object_reference=hold.case_reference,
        actor=placed_by,
        detail={
            "scope": hold.scope,
            "recording": hold.recording_id,
            "subject": hold.subject_id,
            "queue": hold.queue_id,
        },
    )
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
    # The erasures this hold deferred become due when it was the last one covering them.
    held_erasures_on_hold_released(hold=hold, actor=released_by, now=hold.released_at)
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
