"""Celery tasks of the DSR desk: thin wrappers around services."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils import timezone

from dsr.held_erasures import held_erasures_execute, held_erasures_finish
from dsr.jobs import JobInterrupted, request_job_run, request_jobs_resume
from dsr.packages import package_orphans_delete, packages_expired_purge
from dsr.reminders import reminders_deliver, reminders_send_due
from dsr.response_delivery import response_attempt, responses_deliver

# A transient error (database or storage away) is retried after 10 s, 20 s, 40 s, ... up to ten
# minutes apart; the last attempt fails the job with its reason.
JOB_MAX_RETRIES = 6
JOB_BACKOFF_SECONDS = 10
JOB_BACKOFF_MAX_SECONDS = 600


@shared_task(name="dsr.tasks.send_deadline_reminders")
def send_deadline_reminders(now: str | None = None) -> int:
    """Hourly: send every reminder that is due now; returns how many were sent.

    ``now`` (ISO 8601 with its UTC offset) stands in for the clock, for tests that drive time."""
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    if timezone.is_naive(moment):
        raise ValueError(f"now={now!r} must carry its UTC offset.")
    return reminders_send_due(now=moment)


@shared_task(name="dsr.tasks.retry_deadline_reminders")
def retry_deadline_reminders() -> int:
    """Every few minutes: attempt again the reminders whose email failed, once their backoff has
    passed (``dsr.reminders``); returns how many were sent."""
    return reminders_deliver(now=timezone.now())


@shared_task(name="dsr.tasks.purge_expired_packages")
def purge_expired_packages() -> int:
    """Nightly: delete the archives of access and portability packages past their expiry."""
    return packages_expired_purge()


@shared_task(name="dsr.tasks.delete_orphan_package_blobs")
def delete_orphan_package_blobs() -> int:
    """Every few minutes: delete the archives of package builds that died before their row was
    committed; returns how many."""
    return len(package_orphans_delete())


@shared_task(bind=True, name="dsr.tasks.run_request_job", max_retries=JOB_MAX_RETRIES)
def run_request_job(self, job_id: int) -> str | None:
    """On demand, once a completion or an approval commits: carry out the request's job (build
    its package, execute its erasure). Acknowledged late (the project's default), so a worker
    killed mid-job has the message redelivered; the job's claim makes a redelivery of a finished
    or live job do nothing. Returns the job's state, or None when there was nothing to do."""
    try:
        job = request_job_run(job_id=job_id, final_attempt=self.request.retries >= self.max_retries)
    except JobInterrupted as exc:
        countdown = min(JOB_BACKOFF_SECONDS * 2**self.request.retries, JOB_BACKOFF_MAX_SECONDS)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return job.state if job is not None else None


@shared_task(name="dsr.tasks.resume_request_jobs")
def resume_request_jobs() -> int:
    """Every few minutes: send again the jobs whose message was lost or whose worker died."""
    return len(request_jobs_resume())


@shared_task(name="dsr.tasks.run_held_erasures")
def run_held_erasures(erasure_ids: list[int]) -> int:
    """On demand, once a second DPO's approval commits: carry out the erasures a released hold
    had deferred; returns how many recordings were erased. Acknowledged late; the records' state
    makes a redelivery erase nothing twice."""
    return held_erasures_execute(erasure_ids=erasure_ids, now=timezone.now())


@shared_task(name="dsr.tasks.finish_held_erasures")
def finish_held_erasures(now: str | None = None) -> int:
    """Hourly: carry out the erasures whose holds were released more than the grace period ago
    (``CUSTOS_HELD_ERASURE_GRACE_DAYS``), and the approved ones whose message was lost.

    ``now`` (ISO 8601 with its UTC offset) stands in for the clock, for tests that drive time."""
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    if timezone.is_naive(moment):
        raise ValueError(f"now={now!r} must carry its UTC offset.")
    return held_erasures_finish(now=moment)


@shared_task(name="dsr.tasks.deliver_response")
def deliver_response(delivery_id: int) -> str | None:
    """On demand, once "Send the response" by email commits: attempt that delivery now. The row's
    claim makes a redelivered message, or beat's tick meeting it, send nothing twice."""
    delivery = response_attempt(delivery_id=delivery_id)
    return delivery.state if delivery is not None else None


@shared_task(name="dsr.tasks.deliver_responses")
def deliver_responses() -> int:
    """Every few minutes: send the response emails that are due (retries, lost messages) and alert
    the DPO group of those given up; returns how many were sent."""
    return responses_deliver(now=timezone.now())
