"""Keep-until follows its inputs: the recomputations a change queues, and their run on a worker.

Every input of keep-until (``retention.keep_until``) triggers a recomputation of the recordings
it can move:

- a retention policy created, changed or deleted, and a legitimate-interest assessment approved,
  withdrawn or given other purposes, can reach thousands of recordings: a durable
  ``KeepUntilRecomputation`` is queued in the changing transaction and a worker runs it once that
  commits (``retention.tasks.run_keep_until_recomputation``), in batches of
  ``RETENTION_RECOMPUTE_BATCH_SIZE`` recordings in id order, each committing with its progress;
- a consent withdrawn, given or refused, an objection decided and a recording's purposes changed
  reach one subject's calls: recomputed inline, in the same transaction (``retention.receivers``),
  so the recording's page, the QA lead's list and the shares are right when it commits.

Exactly once, resumable. The worker claims the job by a conditional update under its row lock and
takes a lease on it (``compliance_site.leases``); a redelivered message finds it done, or running
under a live lease, and does nothing, or running with no live owner (kill -9) and goes on from the
last committed batch. Beat's ``retention.tasks.resume_keep_until_recomputations`` sends again the
jobs whose message was lost. A recomputation is idempotent: redoing a batch changes nothing.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from compliance_site.beat import BeatLock
from compliance_site.leases import lease_acquire, lease_held, lease_release
from retention.keep_until import keep_until_recompute, recordings_in_scope
from retention.models import KeepUntilRecomputation

logger = logging.getLogger(__name__)

Job = KeepUntilRecomputation
RECOMPUTE_LEASE = "keep-until-recompute"
# Beat sends a job's message again once it has sat this long queued, or running without an owner.
RESUME_AFTER = datetime.timedelta(minutes=10)


def recomputation_queue(
    *,
    trigger: str,
    description: str,
    purpose_id: int | None = None,
    assessment_id: int | None = None,
    actor=None,
) -> KeepUntilRecomputation:
    """Queue a recomputation in the caller's transaction; a worker runs it once that commits. A
    job of the same scope still queued takes this change too (it has not read anything yet)."""
    with transaction.atomic():
        return _queue(trigger, description, purpose_id, assessment_id, actor)


def _queue(trigger: str, description: str, purpose_id, assessment_id, actor) -> KeepUntilRecomputation:
    queued = (
        Job.objects.select_for_update()
        .filter(state=Job.State.QUEUED, purpose_id=purpose_id, assessment_id=assessment_id)
        .first()
    )
    if queued is not None:
        queued.description = description[:200]
        queued.save(update_fields=["description", "updated_at"])
        return queued
    job = Job.objects.create(
        trigger=trigger,
        description=description[:200],
        purpose_id=purpose_id,
        assessment_id=assessment_id,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
    )
    _enqueue_after_commit(job.pk)
    return job


def _enqueue_after_commit(job_id: int) -> None:
    from retention.tasks import run_keep_until_recomputation

    transaction.on_commit(lambda: run_keep_until_recomputation.delay(job_id))


def _claim(job_id: int) -> tuple[KeepUntilRecomputation, BeatLock] | None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in (Job.State.DONE, Job.State.FAILED):
            return None
        if job.state == Job.State.RUNNING and lease_held(RECOMPUTE_LEASE, job.pk):
            return None  # a live worker has it (a redelivery while it runs)
        if job.state == Job.State.RUNNING:
            logger.warning("Recomputation %s died with its worker; going on", job.pk)
        # Taken before the claim commits: nobody sees this job running without its lease.
        lease = lease_acquire(RECOMPUTE_LEASE, job.pk)
        job.state, job.started_at = Job.State.RUNNING, job.started_at or timezone.now()
        job.attempts = F("attempts") + 1
        if job.total is None:
            job.total = _scope(job).count()
        job.save(update_fields=["state", "started_at", "attempts", "total", "updated_at"])
        job.refresh_from_db()
    return job, lease


def _scope(job: KeepUntilRecomputation, *, after: int = 0):
    return recordings_in_scope(purpose_id=job.purpose_id, assessment_id=job.assessment_id, after=after)


def _batch(job: KeepUntilRecomputation, batch_size: int) -> int:
    """Recompute the next batch and record the progress with it, in one transaction."""
    with transaction.atomic():
        ids = list(
            _scope(job, after=job.last_recording_id).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        changed = keep_until_recompute(ids, now=timezone.now(), actor=job.requested_by)
        # The guard: a job no longer ours (failed by hand meanwhile) rolls this batch back.
        updated = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            last_recording_id=ids[-1],
            done=F("done") + len(ids),
            changed=F("changed") + changed,
            updated_at=timezone.now(),
        )
        if updated != 1:
            raise RuntimeError(f"Recomputation {job.pk} is no longer running.")
    job.last_recording_id = ids[-1]
    return len(ids)


def recomputation_run(*, job_id: int, batch_size: int | None = None) -> KeepUntilRecomputation | None:
    """Run the job to its end (the body of the task); None when there was nothing to do."""
    claimed = _claim(job_id)
    if claimed is None:
        return None
    job, lease = claimed
    batch_size = batch_size or settings.RETENTION_RECOMPUTE_BATCH_SIZE
    try:
        while _batch(job, batch_size):
            pass
        now = timezone.now()
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            state=Job.State.DONE, finished_at=now, updated_at=now, total=F("done")
        )
    except Exception as exc:
        logger.exception("Recomputation %s failed", job.pk)
        now = timezone.now()
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            state=Job.State.FAILED,
            failure_reason=(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:1000],
            finished_at=now,
            updated_at=now,
        )
    finally:
        lease_release(lease, RECOMPUTE_LEASE, job.pk)
    return Job.objects.get(pk=job.pk)


def recomputations_resume(*, now: datetime.datetime | None = None) -> list[int]:
    """Send again each job queued for ``RESUME_AFTER``, or running with no live owner; the ids."""
    from retention.tasks import run_keep_until_recomputation

    now = now or timezone.now()
    sent = []
    stalled = Job.objects.filter(state__in=Job.ACTIVE_STATES, updated_at__lt=now - RESUME_AFTER)
    for job_id, state in stalled.order_by("pk").values_list("pk", "state"):
        if state == Job.State.RUNNING and lease_held(RECOMPUTE_LEASE, job_id):
            continue  # a long recomputation, alive
        Job.objects.filter(pk=job_id).update(updated_at=now)
        run_keep_until_recomputation.delay(job_id)
        sent.append(job_id)
    if sent:
        logger.warning("Sent %d recomputation(s) again: message lost or worker dead", len(sent))
    return sent


def recomputation_latest(*, purpose_id: int) -> KeepUntilRecomputation | None:
    return Job.objects.filter(purpose_id=purpose_id).order_by("-created_at", "-pk").first()
