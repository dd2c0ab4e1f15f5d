"""Long work of a request, on a Celery worker: building the package of an access or portability
request, and executing an erasure once it is approved (``dsr.models.RequestJob``).

What the DPO sees. Completing such a request (``dsr.workflow.request_complete``, or the second
DPO's approval of an erasure) checks what it always checked, records the decision at once (the
approval, who completed it) and moves the request to "being carried out" with a queued job; the
web request returns. Once that commits, ``dsr.tasks.run_request_job`` runs ``request_job_run`` on
a worker. The request page shows the job (queued / running, n of m recordings / done / failed:
the reason) and refreshes itself while it runs (``custos/request-jobs.js`` polls
``request_job_state``). The job writes the outcome, ``executed_at`` and the response letter when
the work is done, in the same transaction as the work's last write: an erasure is then completed
("completed" always means "carried out"); a package leaves the request "ready to send", open
until the package reaches the subject (``dsr.workflow.request_response_delivered``).

The deadline keeps running while a job is queued or running, and the reminders keep firing: the
subject has no answer until the job is done, and a reminder is the safety net that brings the
assignee back to a job that failed or a worker that is down. (A build takes minutes; reminders
are days apart, so a healthy job rarely meets one.)

A failed job leaves the data as it was (an erasure is one transaction; a package build's blob is
deleted, or left to ``package_orphans_delete`` if the process died) and the request "being
carried out" with the job's reason; the DPO retries it (``request_job_retry``), or sends the
request back to in progress, refuses it, or records its withdrawal. While a job is queued or
running, nothing else changes the request's status or subject (``request_job_guard``).

Exactly once. The worker claims the job by a conditional update under its row lock and takes a
lease on it (``compliance_site.leases``) before the claim commits; a redelivered message (acks
late, the worker killed) finds the job done or failed and does nothing, or running under a live
lease (another worker has it) and does nothing, or running with no live owner and takes it over.
The work itself commits once, with the job's "done". Beat's ``dsr.tasks.resume_request_jobs``
sends again the jobs whose message was lost (the demo's filesystem broker forgets a message whose
worker died).
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from compliance_site.beat import BeatLock
from compliance_site.leases import lease_acquire, lease_held, lease_release
from dsr.erasure import live_recordings
from dsr.models import DataPackage, DataSubjectRequest, RequestJob
from dsr.packages import package_build
from dsr.rights import RightResult, erasure_execute
from recordings.models import DataSubject

logger = logging.getLogger(__name__)

Job = RequestJob
Status = DataSubjectRequest.Status

JOB_LEASE = "request-job"
# Errors that a later attempt may not meet: the database or the storage was unreachable. The
# task retries them with backoff; anything else fails the job at once with its reason.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, OSError)
# Beat sends a job's message again once the job has sat this long queued, or running without a
# live owner.
RESUME_AFTER = datetime.timedelta(minutes=10)
_REASON_MAX = 1000


class JobInterrupted(Exception):
    """A transient error stopped the job; it is queued again for the task's retry."""


def request_job_queue(*, dsr: DataSubjectRequest, kind: str, actor) -> RequestJob:
    """Queue the request's long work, inside the caller's transaction; the worker gets the job
    once that commits (a rolled-back completion leaves no job and sends nothing)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("request_job_queue runs inside the completing transaction.")
    request_job_guard(dsr=dsr)
    job = RequestJob.objects.create(request=dsr, kind=kind, requested_by=actor)
    _enqueue_after_commit(job)
    return job


def _enqueue_after_commit(job: RequestJob) -> None:
    from dsr.tasks import run_request_job

    job_id = job.pk
    transaction.on_commit(lambda: run_request_job.delay(job_id))


def request_job_guard(*, dsr: DataSubjectRequest) -> None:
    """Refuse a change to the request while its job is queued or running: the worker acts on the
    request as it was completed."""
    if RequestJob.objects.filter(request=dsr, state__in=RequestJob.ACTIVE_STATES).exists():
        raise ValidationError(
            "The request is being carried out on a worker; wait until its job is done or has failed."
        )


def request_job_latest(dsr: DataSubjectRequest) -> RequestJob | None:
    return RequestJob.objects.filter(request=dsr).order_by("-created_at", "-pk").first()


# --- On the worker ------------------------------------------------------------------------------


def request_job_run(*, job_id: int, final_attempt: bool = True) -> RequestJob | None:
    """Carry out the job (the body of ``dsr.tasks.run_request_job``); None when there was nothing
    to do (finished, or running on a live worker). A transient error queues the job again and
    raises JobInterrupted for the task to retry, unless this was the final attempt: then, as for
    any other error, the job fails with its reason and the request stays as it was."""
    claimed = _job_claim(job_id)
    if claimed is None:
        return None
    job, lease = claimed
    try:
        try:
            if job.kind == RequestJob.Kind.PACKAGE:
                _package_run(job)
            else:
                _erasure_run(job)
        except TRANSIENT_ERRORS as exc:
            if final_attempt:
                _job_fail(job, _reason(exc, transient=True))
            else:
                logger.warning("Request job %s interrupted (%s); retrying", job.pk, type(exc).__name__)
                _job_requeue(job)
                raise JobInterrupted(str(job.pk)) from exc
        except ValidationError as exc:
            _job_fail(job, " ".join(exc.messages))
        except Exception as exc:
            logger.exception("Request job %s failed", job.pk)
            _job_fail(job, _reason(exc, transient=False))
    finally:
        lease_release(lease, JOB_LEASE, job.pk)
    return RequestJob.objects.get(pk=job.pk)


def _reason(exc: BaseException, *, transient: bool) -> str:
    # The exception's own words: ours (a service's refusal, "KMS unavailable"), never personal data.
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    prefix = "gave up after retries: " if transient else ""
    return f"{prefix}{what}"[:_REASON_MAX]


def _job_claim(job_id: int) -> tuple[RequestJob, BeatLock] | None:
    with transaction.atomic():
        job = RequestJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in (Job.State.DONE, Job.State.FAILED):
            return None
        if job.state == Job.State.RUNNING and lease_held(JOB_LEASE, job.pk):
            return None  # a live worker has it (a redelivery while it runs)
        if job.state == Job.State.RUNNING:
            logger.warning("Request job %s died with its worker; taking it over", job.pk)
        # Taken before the claim commits: nobody sees this job running without its lease.
        lease = lease_acquire(JOB_LEASE, job.pk)
        job.state, job.started_at, job.finished_at = Job.State.RUNNING, timezone.now(), None
        job.attempts = F("attempts") + 1
        job.save(update_fields=["state", "started_at", "finished_at", "attempts", "updated_at"])
        job.refresh_from_db(fields=["attempts"])
    return job, lease


def _job_progress(job: RequestJob, done: int, total: int) -> None:
    """Record how far the job has got; committed at once (the worker is outside a transaction
    while it streams), so the request page sees it move."""
    RequestJob.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
        progress_done=done, progress_total=total, updated_at=timezone.now()
    )


def _job_finish(job: RequestJob) -> None:
    """Inside the work's own transaction: done commits with the work, or not at all."""
    updated = RequestJob.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
        state=Job.State.DONE, finished_at=timezone.now(), updated_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError("The job was no longer running; nothing was changed.")


def _job_fail(job: RequestJob, reason: str) -> None:
    RequestJob.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
        state=Job.State.FAILED,
        failure_reason=reason or "failed",
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def _job_requeue(job: RequestJob) -> None:
    try:
        RequestJob.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            state=Job.State.QUEUED, updated_at=timezone.now()
        )
    except TRANSIENT_ERRORS:
        # The database is away: the job stays "running" without an owner (its lease goes with
        # this attempt), which the retry or beat's resume takes over.
        logger.warning("Request job %s could not be queued again; left to the retry", job.pk)


def _executing(request_id: int) -> DataSubjectRequest:
    dsr = DataSubjectRequest.objects.select_for_update().get(pk=request_id)
    if dsr.status != Status.EXECUTING:
        raise ValidationError(
            f"The request is {dsr.get_status_display().lower()}, no longer being carried out."
        )
    return dsr


def _package_run(job: RequestJob) -> None:
    """Build the package outside any transaction (minutes for gigabytes), then save it, make the
    request ready to send and mark the job done in one short transaction."""
    from dsr.workflow import request_package_ready

    dsr = DataSubjectRequest.objects.select_related("subject").get(pk=job.request_id)
    if dsr.status != Status.EXECUTING:
        _executing(dsr.pk)  # raises with the reason

    def ready(package: DataPackage) -> None:
        # Not completed: the request completes when the package reaches the subject (Art. 12(3)
        # counts to the answer received), through the "Send" step (dsr.response_delivery).
        locked = _executing(dsr.pk)
        request_package_ready(
            dsr=locked,
            result=RightResult(outcome=f"Package {package.name} built ({package.recordings} recording(s))."),
            actor=job.requested_by,
        )
        _job_finish(job)

    package_build(
        dsr=dsr,
        actor=job.requested_by,
        progress=lambda done, total: _job_progress(job, done, total),
        then=ready,
    )


def _erasure_run(job: RequestJob) -> None:
    """Execute the approved erasure (``dsr.rights.erasure_execute``: Art. 17, holds turning it
    into a restriction) and complete the request, in one transaction: all or nothing. The blobs
    are deleted by another task once it commits."""
    from dsr.workflow import request_close_completed

    # The recordings the erasure reaches: the erasure's own rule (dsr.erasure.live_recordings).
    subject = DataSubject.objects.filter(requests=job.request_id).first()
    _job_progress(job, 0, live_recordings(subject).count() if subject is not None else 0)
    with transaction.atomic():
        dsr = _executing(job.request_id)
        result = erasure_execute(dsr=dsr, actor=job.requested_by)
        request_close_completed(dsr=dsr, result=result, actor=job.requested_by)
        RequestJob.objects.filter(pk=job.pk).update(progress_done=F("progress_total"))
        _job_finish(job)


# --- The DPO's retry and beat's resume -----------------------------------------------------------


@transaction.atomic
def request_job_retry(*, dsr: DataSubjectRequest, actor) -> RequestJob:
    """Queue the request's failed job again (a DPO's decision: the retry runs in the name of who
    completed or approved it, and records who retried)."""
    from compliance_site.roles import is_dpo

    if not is_dpo(actor):
        raise ValidationError("Only a DPO retries a failed job.")
    dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
    job = request_job_latest(dsr)
    if job is None or job.state != Job.State.FAILED:
        raise ValidationError("Only a failed job can be retried.")
    if dsr.status != Status.EXECUTING:
        raise ValidationError("The request is no longer being carried out.")
    updated = RequestJob.objects.filter(pk=job.pk, state=Job.State.FAILED).update(
        state=Job.State.QUEUED,
        failure_reason="",
        progress_done=0,
        finished_at=None,
        retried_by=actor,
        updated_at=timezone.now(),
    )
    if updated != 1:
        raise ValidationError("The job changed meanwhile; reload the page.")
    _enqueue_after_commit(job)
    logger.info("Request job %s of %s queued again", job.pk, dsr.reference)
    job.refresh_from_db()
    return job


def request_jobs_resume(*, now: datetime.datetime | None = None) -> list[int]:
    """Send again the message of each job that has sat queued for ``RESUME_AFTER``, or that is
    running with no live owner (its worker died and no redelivery came); the ids sent. The claim
    makes a message too many harmless."""
    from dsr.tasks import run_request_job

    now = now or timezone.now()
    bound = now - RESUME_AFTER
    sent = []
    for job_id, state in (
        RequestJob.objects.filter(state__in=Job.ACTIVE_STATES, updated_at__lt=bound)
        .order_by("pk")
        .values_list("pk", "state")
    ):
        if state == Job.State.RUNNING and lease_held(JOB_LEASE, job_id):
            continue  # a long build, alive
        # Touched, so that a queue that is merely slow gets one more message per period, not more.
        RequestJob.objects.filter(pk=job_id).update(updated_at=now)
        run_request_job.delay(job_id)
        sent.append(job_id)
    if sent:
        logger.warning("Sent %d request job(s) again: their message was lost or their worker died", len(sent))
    return sent


# --- What the admin shows -----------------------------------------------------------------------


def request_job_summary(job: RequestJob) -> str:
    """One line for the request page: "Package: running, 3 of 12 recordings"."""
    kind = job.get_kind_display()
    if job.state == Job.State.QUEUED:
        again = " again" if job.attempts else ""
        return f"{kind}: queued{again}, waiting for a worker"
    if job.state == Job.State.RUNNING:
        if job.progress_total is None:
            return f"{kind}: running"
        return f"{kind}: running, {job.progress_done} of {job.progress_total} recordings"
    if job.state == Job.State.DONE:
        finished = timezone.localtime(job.finished_at) if job.finished_at else None
        return f"{kind}: done" + (f" at {finished:%Y-%m-%d %H:%M}" if finished else "")
    return f"{kind}: failed: {job.failure_reason}"


def request_job_state(job: RequestJob) -> dict[str, object]:
    """The job as the request page's poller reads it (ids and counts, no personal data)."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "done": job.progress_done,
        "total": job.progress_total,
        "attempts": job.attempts,
        "text": request_job_summary(job),
    }
