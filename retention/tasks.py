"""Celery tasks of retention: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from retention.recompute import recomputation_run, recomputations_resume
from retention.services import blobs_delete_pending, retention_sweep


@shared_task(name="retention.tasks.run_retention_sweep")
def run_retention_sweep() -> int:
    """Nightly: delete what retention says must go; returns the SweepRun id."""
    return retention_sweep(now=timezone.now()).pk


@shared_task(
    name="retention.tasks.delete_pending_blobs",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def delete_pending_blobs() -> None:
    """On demand, after an erasure commits: delete the blobs its tombstones still name (a blob the
    storage refuses stays pending and is logged; the task retries, and the nightly sweep too)."""
    blobs_delete_pending()


@shared_task(name="retention.tasks.run_keep_until_recomputation")
def run_keep_until_recomputation(job_id: int) -> str | None:
    """On demand, once a policy or assessment change commits: recompute the keep-until of the
    recordings it reaches, batch by batch. Acknowledged late (the project's default): a killed
    worker's message is redelivered and the job goes on from its last batch."""
    job = recomputation_run(job_id=job_id)
    return job.state if job is not None else None


@shared_task(name="retention.tasks.resume_keep_until_recomputations")
def resume_keep_until_recomputations() -> int:
    """Every few minutes: send again the recomputations whose message was lost or worker died."""
    return len(recomputations_resume())
